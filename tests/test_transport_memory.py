"""The in-memory engine: the engine contract, then what only it offers (a fake clock, failures)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest
from transport_contract import *  # noqa: F403  (the contract's tests run here)
from transport_contract import envelope

from mediator.errors import GroupNotFoundError
from mediator.transports import MemoryEngine


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(clock: FakeClock) -> MemoryEngine:
    return MemoryEngine(clock=clock)


@pytest.fixture
def advance(clock: FakeClock) -> Callable[[float], Awaitable[None]]:
    async def advance(seconds: float) -> None:
        clock.now += seconds

    return advance


async def test_entry_ids_sort_in_append_order_as_strings(engine: MemoryEngine) -> None:
    ids = await engine.append("orders", [envelope(n) for n in range(12)])
    assert ids == sorted(ids)
    assert ids[:2] == ["0000000000000001", "0000000000000002"]
    assert await engine.append("refunds", [envelope(1)]) == ["0000000000000001"]  # per stream


async def test_entries_shows_a_stream_without_reading_it(engine: MemoryEngine) -> None:
    sent = [envelope(n) for n in range(2)]
    ids = await engine.append("orders", sent)
    assert engine.entries("orders") == list(zip(ids, sent, strict=True))
    assert engine.entries("nothing") == []
    assert repr(engine) == "<MemoryEngine streams=['orders']>"


async def test_the_dead_letter_stream_is_a_stream(engine: MemoryEngine) -> None:
    await engine.ensure_group("orders", "billing")
    [sent] = [envelope(1)]
    await engine.append("orders", [sent])
    [read] = await engine.read_new(["orders"], "billing", "b1", count=1, block=0)
    await engine.ensure_group("orders:dead", "ops")
    await engine.dead_letter(read, "billing", "poison")
    assert [envelope for _, envelope in engine.entries("orders:dead")] == [sent]
    [dead] = await engine.read_new(["orders:dead"], "ops", "o1", count=1, block=0)
    assert dead.envelope == sent


async def test_claim_uses_the_engines_clock(engine: MemoryEngine, clock: FakeClock) -> None:
    await engine.ensure_group("orders", "billing")
    await engine.append("orders", [envelope(1)])
    await engine.read_new(["orders"], "billing", "b1", count=1, block=0)
    clock.now += 29.9
    assert await engine.claim("orders", "billing", "b2", idle=30.0, count=10) == []
    clock.now += 0.1
    [claimed] = await engine.claim("orders", "billing", "b2", idle=30.0, count=10)
    assert claimed.attempt == 2
    clock.now += 10.0
    assert await engine.read_pending("orders", "billing", "b2", count=10) != []  # resets idle
    clock.now += 29.0
    assert await engine.claim("orders", "billing", "b3", idle=30.0, count=10) == []


async def test_read_new_shares_count_between_streams_in_turn(engine: MemoryEngine) -> None:
    for stream in ("orders", "refunds"):
        await engine.ensure_group(stream, "billing")
        await engine.append(stream, [envelope(n) for n in range(3)])
    read = await engine.read_new(["orders", "refunds"], "billing", "b1", count=3, block=0)
    assert [(one.stream, one.envelope.payload) for one in read] == [
        ("orders", b'{"n": 0}'),
        ("refunds", b'{"n": 0}'),
        ("orders", b'{"n": 1}'),
    ]


async def test_read_new_fails_whole_on_one_unknown_group(engine: MemoryEngine) -> None:
    await engine.ensure_group("orders", "billing")
    await engine.append("orders", [envelope(1)])
    await engine.append("refunds", [envelope(1)])
    with pytest.raises(GroupNotFoundError) as caught:
        await engine.read_new(["orders", "refunds"], "billing", "b1", count=10, block=0)
    assert str(caught.value) == (
        "read_new: stream 'refunds' has no consumer group 'billing' (it has: none yet).\n"
        "Tip: Create it first with `await engine.ensure_group('refunds', 'billing')` "
        "(the worker does so when it starts)."
    )
    assert await engine.pending_count("orders", "billing") == 0  # nothing delivered half-way


async def test_an_unknown_group_error_lists_the_streams_groups(engine: MemoryEngine) -> None:
    await engine.ensure_group("orders", "shipping")
    await engine.ensure_group("orders", "billing")
    with pytest.raises(GroupNotFoundError) as caught:
        await engine.pending_count("orders", "biling")
    assert caught.value.groups == ("billing", "shipping")
    assert str(caught.value).startswith(
        "pending_count: stream 'orders' has no consumer group 'biling' "
        "(it has: 'billing', 'shipping').\n"
    )


async def test_ack_ignores_unknown_streams_and_groups(engine: MemoryEngine) -> None:
    await engine.ack("nothing", "nobody", ["0000000000000001"])
    assert engine.entries("nothing") == []


async def test_read_new_waits_no_longer_than_block(engine: MemoryEngine) -> None:
    await engine.ensure_group("orders", "billing")
    started = anyio.current_time()
    with anyio.fail_after(5):
        assert await engine.read_new(["orders"], "billing", "b1", count=1, block=0.02) == []
    assert anyio.current_time() - started >= 0.02


async def test_a_failed_engine_raises_on_every_call_until_it_recovers(
    engine: MemoryEngine,
) -> None:
    await engine.ensure_group("orders", "billing")
    await engine.append("orders", [envelope(1)])
    down = ConnectionError("broker down")
    engine.fail(down)
    calls = [
        lambda: engine.append("orders", [envelope(2)]),
        lambda: engine.ensure_group("orders", "other"),
        lambda: engine.read_new(["orders"], "billing", "b1", count=1, block=0),
        lambda: engine.read_pending("orders", "billing", "b1", count=1),
        lambda: engine.claim("orders", "billing", "b1", idle=0.0, count=1),
        lambda: engine.ack("orders", "billing", ["0000000000000001"]),
        lambda: engine.dead_letters("orders"),
        lambda: engine.pending_count("orders", "billing"),
    ]
    for call in calls:
        with pytest.raises(ConnectionError) as caught:
            await call()
        assert caught.value is down
    engine.recover()
    assert len(engine.entries("orders")) == 1  # nothing half-done while down
    [read] = await engine.read_new(["orders"], "billing", "b1", count=1, block=0)
    assert read.attempt == 1


async def test_a_blocked_reader_raises_when_the_engine_fails(engine: MemoryEngine) -> None:
    await engine.ensure_group("orders", "billing")
    caught: list[BaseException] = []

    async def reader() -> None:
        try:
            await engine.read_new(["orders"], "billing", "b1", count=1, block=30)
        except ConnectionError as error:
            caught.append(error)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            engine.fail(ConnectionError("broker down"))
    assert [str(error) for error in caught] == ["broker down"]
