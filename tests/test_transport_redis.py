"""The Redis Streams engine against a real redis-server: the engine contract, then its own parts.

asyncio only: redis-py is asyncio-only, and the engine says so on trio (tested
below on trio).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest
from redis_server import RedisServer, own_redis_server, redis_server  # noqa: F401 (fixtures)
from transport_contract import *  # noqa: F403  (the contract's tests run here)
from transport_contract import envelope

from mediator.transports import Envelope
from mediator.transports.redis import RedisEngine, RedisEngineError


@pytest.fixture
def anyio_backend() -> Any:
    """The Redis engine is asyncio-only (redis-py)."""
    return "asyncio", {"debug": True}


@pytest.fixture
async def engine(redis_server: RedisServer) -> AsyncIterator[RedisEngine]:  # noqa: F811
    engine = RedisEngine(redis_server.url, timeout=2.0)
    await engine.client.flushall()
    yield engine
    await engine.aclose()


@pytest.fixture
def advance() -> Callable[[float], Awaitable[None]]:
    async def advance(seconds: float) -> None:
        await anyio.sleep(seconds)  # Redis's idle times are real time

    return advance


async def test_entries_are_readable_with_redis_cli(engine: RedisEngine) -> None:
    sent = envelope(1, key="order-1")
    [entry_id] = await engine.append("orders", [sent])
    [(got_id, fields)] = await engine.client.xrange("orders")
    assert got_id.decode() == entry_id
    assert {name.decode(): value for name, value in fields.items()} == {
        "id": sent.id.encode(),
        "type": b"orders.placed",
        "meta": b'{"version":1,"occurred_at":"2025-01-01T00:00:00+00:00","key":"order-1",'
        b'"headers":{"correlation_id":"c1"}}',
        "payload": b'{"n": 1}',
    }


async def test_partitions_keep_one_key_on_one_partition(redis_server: RedisServer) -> None:  # noqa: F811
    engine = RedisEngine(redis_server.url, partitions={"orders": 4})
    await engine.client.flushall()
    streams = engine.streams("orders")
    assert streams == ["orders:{0}", "orders:{1}", "orders:{2}", "orders:{3}"]
    assert engine.streams("orders", [1, 3]) == ["orders:{1}", "orders:{3}"]
    assert engine.streams("payments") == ["payments"]
    for stream in streams:
        await engine.ensure_group(stream, "billing")
    sent = [envelope(n, key=f"order-{n % 5}") for n in range(40)]
    await engine.append("orders", sent)
    read = await engine.read_new(streams, "billing", "b1", count=100, block=0)
    assert len(read) == 40
    where: dict[str | None, set[str]] = {}
    for one in read:
        where.setdefault(one.envelope.key, set()).add(one.stream)
    assert all(len(partitions) == 1 for partitions in where.values())
    for key in where:  # order per key kept
        mine = [one.envelope for one in read if one.envelope.key == key]
        assert mine == [e for e in sent if e.key == key]
    assert len({stream for partitions in where.values() for stream in partitions}) > 1
    with pytest.raises(RedisEngineError) as caught:
        engine.streams("orders", [4])
    assert (caught.value.problem, caught.value.value) == ("partition", 4)
    await engine.aclose()


async def test_trim_never_removes_what_a_group_has_not_read_or_acked(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    engine = RedisEngine(redis_server.url, retention=0.001)
    await engine.client.flushall()
    await engine.ensure_group("orders", "billing")
    await engine.ensure_group("orders", "audit")
    ids = []
    for n in range(300):  # several radix-tree nodes, so approximate trimming can act
        ids += await engine.append("orders", [envelope(n)])
    read = await engine.read_new(["orders"], "billing", "b1", count=300, block=0)
    await engine.ack("orders", "billing", [one.entry_id for one in read])
    await anyio.sleep(0.01)
    await engine.trim("orders")  # audit has read nothing: all stays
    assert await engine.client.xlen("orders") == 300
    audit = await engine.read_new(["orders"], "audit", "a1", count=300, block=0)
    await engine.ack("orders", "audit", [one.entry_id for one in audit[:250]])
    await engine.trim("orders")
    left = [entry_id.decode() for entry_id, _ in await engine.client.xrange("orders")]
    assert set(ids[250:]) <= set(left)  # audit's pending entries stay
    assert len(left) < 300  # whole nodes below them went
    await engine.aclose()


async def test_a_dead_broker_fails_within_a_bounded_time() -> None:
    engine = RedisEngine("redis://127.0.0.1:1/0", timeout=0.2, retries=1)
    started = anyio.current_time()
    with pytest.raises(Exception) as caught:
        await engine.append("orders", [envelope(1)])
    assert "connect" in str(caught.value).lower() or "refused" in str(caught.value).lower()
    assert anyio.current_time() - started < 3
    await engine.aclose()


async def test_acknowledged_appends_survive_a_sigkill_of_redis(
    own_redis_server: RedisServer,  # noqa: F811
) -> None:
    engine = RedisEngine(own_redis_server.url, timeout=1.0)
    await engine.ensure_group("orders", "billing")
    sent = [envelope(n) for n in range(50)]
    await engine.append("orders", sent)
    [first] = await engine.read_new(["orders"], "billing", "b1", count=1, block=0)
    own_redis_server.restart()  # SIGKILL, then start again from the append-only file
    rest = await engine.read_new(["orders"], "billing", "b1", count=100, block=0)
    assert [one.envelope for one in [first, *rest]] == sent
    [again] = await engine.read_pending("orders", "billing", "b1", count=1)
    assert (again.envelope, again.attempt) == (sent[0], 2)  # the pending list survived too
    await engine.aclose()


def test_options_are_checked() -> None:
    with pytest.raises(RedisEngineError) as caught:
        RedisEngine(timeout=0)
    assert (caught.value.problem, caught.value.option) == ("option", "timeout")
    assert str(caught.value).startswith("RedisEngine(): timeout=0 is not a positive finite number.")
    with pytest.raises(RedisEngineError) as caught:
        RedisEngine(partitions={"orders": 0})
    assert caught.value.problem == "partitions"


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_on_trio_the_engine_says_it_needs_asyncio() -> None:
    with pytest.raises(RedisEngineError) as caught:
        RedisEngine()
    assert caught.value.problem == "trio"
    assert "runs on anyio's asyncio backend only" in str(caught.value)


def make_envelope(n: int) -> Envelope:
    return envelope(n)


async def test_an_entry_that_holds_no_envelope_is_dead_lettered_not_a_stall(
    engine: RedisEngine,
) -> None:
    await engine.ensure_group("orders", "billing")
    await engine.append("orders", [envelope(1)])
    foreign = await engine.client.xadd("orders", {"hello": "from another tool"})
    await engine.append("orders", [envelope(2)])
    read = await engine.read_new(["orders"], "billing", "b1", count=10, block=0)
    assert [one.entry_id for one in read][1] == foreign.decode()
    odd = read[1].envelope
    assert odd.type == "<not an envelope: KeyError; fields hello>"
    assert json.loads(odd.payload) == {"hello": "from another tool"}  # kept for the dead letter


async def test_a_pending_entry_deleted_from_the_stream_is_acked_not_delivered(
    engine: RedisEngine, caplog: pytest.LogCaptureFixture
) -> None:
    await engine.ensure_group("orders", "billing")
    ids = await engine.append("orders", [envelope(n) for n in range(3)])
    await engine.read_new(["orders"], "billing", "b1", count=10, block=0)
    await engine.client.xdel("orders", ids[1])
    again = await engine.read_pending("orders", "billing", "b1", count=10)
    assert [one.entry_id for one in again] == [ids[0], ids[2]]
    assert await engine.pending_count("orders", "billing") == 2
    assert f"Entries {ids[1]} of orders were pending for group billing but are gone" in (
        caplog.text
    )


async def test_a_claim_gives_each_entry_its_own_delivery_count(
    engine: RedisEngine, advance: Callable[[float], Awaitable[None]]
) -> None:
    await engine.ensure_group("orders", "billing")
    ids = await engine.append("orders", [envelope(n) for n in range(4)])
    await engine.read_new(["orders"], "billing", "b1", count=4, block=0)
    for _ in range(2):  # ids[1] and ids[3] get two more deliveries to b1
        await engine.read_pending("orders", "billing", "b1", count=4)
    await engine.ack("orders", "billing", [ids[0], ids[2]])
    await advance(0.1)
    claimed = await engine.claim("orders", "billing", "b2", idle=0.05, count=10)
    assert [(one.entry_id, one.attempt) for one in claimed] == [(ids[1], 4), (ids[3], 4)]


async def test_a_partitioned_stream_is_read_by_its_partitions(redis_server: RedisServer) -> None:  # noqa: F811
    engine = RedisEngine(redis_server.url, partitions={"orders": 2})
    with pytest.raises(RedisEngineError) as caught:
        await engine.ensure_group("orders", "billing")
    error = caught.value
    assert (error.problem, error.option, error.value) == ("partitioned", "orders", "ensure_group")
    assert str(error) == (
        "RedisEngine.ensure_group('orders'): 'orders' is split into partitions, so no Redis "
        "stream has that name: reading it would read nothing, for ever.\n"
        "Tip: Read its partitions: Worker(engine, ..., streams=engine.streams('orders')); "
        "only append takes the logical name."
    )
    await engine.aclose()


async def test_a_stream_no_group_reads_yet_is_not_trimmed(redis_server: RedisServer) -> None:  # noqa: F811
    engine = RedisEngine(redis_server.url, retention=0.001)
    await engine.client.flushall()
    for n in range(300):
        await engine.append("orders", [envelope(n)])
    await anyio.sleep(0.01)  # older than the retention
    assert await engine.trim("orders") == 0
    assert await engine.client.xlen("orders") == 300
    await engine.aclose()
