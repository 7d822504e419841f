"""The contract every engine keeps: one suite, run against each engine.

Not collected by itself (no ``test_`` prefix).  A test module runs it with
``from transport_contract import *`` and by defining two fixtures:

- ``engine``: a fresh engine per test, with no streams (a real broker: a
  flushed database or a unique key prefix);
- ``advance``: ``await advance(seconds)`` makes that much time pass for the
  engine's idle times: the in-memory engine's fake clock moves; a real broker
  sleeps (the suite's idle times are a fraction of a second).

Entry ids are compared only with each other and as the engine returned them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import anyio
import anyio.abc
import pytest

from mediator.errors import GroupNotFoundError
from mediator.transports import DeadLetter, Engine, Envelope, Inbound, new_id

Advance = Callable[[float], Awaitable[None]]

#: Claims in the suite wait this long, after ``advance(IDLE * 2)``.
IDLE = 0.05


def envelope(n: int, *, key: str | None = None) -> Envelope:
    return Envelope(
        new_id(),
        "orders.placed",
        1,
        datetime(2025, 1, 1, tzinfo=UTC),
        b'{"n": %d}' % n,
        key=key,
        headers={"correlation_id": f"c{n}"},
    )


def payloads(read: list[Inbound]) -> list[bytes]:
    return [one.envelope.payload for one in read]


async def test_an_engine_is_an_engine(engine: Engine) -> None:
    assert isinstance(engine, Engine)


async def test_append_returns_ids_in_order_and_read_new_delivers_each_once(
    engine: Engine,
) -> None:
    sent = [envelope(n) for n in range(5)]
    await engine.ensure_group("orders", "billing")
    ids = await engine.append("orders", sent[:3])
    ids += await engine.append("orders", sent[3:])
    assert len(set(ids)) == 5

    first = await engine.read_new(["orders"], "billing", "b1", count=3, block=0)
    rest = await engine.read_new(["orders"], "billing", "b1", count=10, block=0)
    assert [one.envelope for one in first + rest] == sent  # every field kept, in order
    assert [one.entry_id for one in first + rest] == ids
    assert {(one.stream, one.attempt) for one in first + rest} == {("orders", 1)}
    assert await engine.read_new(["orders"], "billing", "b1", count=10, block=0) == []
    assert await engine.pending_count("orders", "billing") == 5

    await engine.ack("orders", "billing", ids[:2])
    assert await engine.pending_count("orders", "billing") == 3
    await engine.ack("orders", "billing", [*ids[2:], ids[0]])  # acked twice: ignored
    assert await engine.pending_count("orders", "billing") == 0


async def test_lag_counts_the_entries_the_group_has_not_read(engine: Engine) -> None:
    await engine.append("orders", [envelope(n) for n in range(4)])
    await engine.ensure_group("orders", "billing")
    known = await engine.lag("orders", "billing")
    if known is None:  # an engine that cannot tell says so, always
        assert await engine.lag("orders", "billing") is None
        return
    assert known == 4
    read = await engine.read_new(["orders"], "billing", "b1", count=3, block=0)
    assert await engine.lag("orders", "billing") == 1
    await engine.ack("orders", "billing", [one.entry_id for one in read])
    assert await engine.lag("orders", "billing") == 1  # acks do not change it: reads do


async def test_append_of_nothing_appends_nothing(engine: Engine) -> None:
    await engine.ensure_group("orders", "billing")
    assert await engine.append("orders", []) == []
    assert await engine.read_new(["orders"], "billing", "b1", count=10, block=0) == []


async def test_ensure_group_is_idempotent_and_keeps_the_groups_position(engine: Engine) -> None:
    await engine.ensure_group("orders", "billing")
    await engine.append("orders", [envelope(1)])
    assert len(await engine.read_new(["orders"], "billing", "b1", count=10, block=0)) == 1
    await engine.ensure_group("orders", "billing")
    assert await engine.read_new(["orders"], "billing", "b1", count=10, block=0) == []
    assert await engine.pending_count("orders", "billing") == 1


async def test_a_group_created_late_reads_the_stream_from_its_start(engine: Engine) -> None:
    await engine.append("orders", [envelope(n) for n in range(3)])
    await engine.ensure_group("orders", "late")
    read = await engine.read_new(["orders"], "late", "l1", count=10, block=0)
    assert payloads(read) == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']


async def test_two_groups_each_get_every_entry(engine: Engine) -> None:
    await engine.ensure_group("orders", "billing")
    await engine.ensure_group("orders", "shipping")
    await engine.append("orders", [envelope(n) for n in range(3)])
    billing = await engine.read_new(["orders"], "billing", "b1", count=10, block=0)
    await engine.ack("orders", "billing", [one.entry_id for one in billing])
    shipping = await engine.read_new(["orders"], "shipping", "s1", count=10, block=0)
    assert payloads(billing) == payloads(shipping) == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert await engine.pending_count("orders", "billing") == 0
    assert await engine.pending_count("orders", "shipping") == 3


async def test_consumers_of_one_group_share_its_entries(engine: Engine) -> None:
    await engine.ensure_group("orders", "billing")
    await engine.append("orders", [envelope(n) for n in range(4)])
    one = await engine.read_new(["orders"], "billing", "b1", count=2, block=0)
    two = await engine.read_new(["orders"], "billing", "b2", count=10, block=0)
    assert payloads(one) + payloads(two) == [b'{"n": %d}' % n for n in range(4)]
    assert len(one) == len(two) == 2


async def test_read_new_over_several_streams_keeps_each_streams_order(engine: Engine) -> None:
    for stream in ("orders", "refunds"):
        await engine.ensure_group(stream, "billing")
        await engine.append(stream, [envelope(n) for n in range(3)])
    read: list[Inbound] = []
    while batch := await engine.read_new(["orders", "refunds"], "billing", "b1", count=2, block=0):
        assert len({one.stream for one in batch}) * 2 >= len(batch)  # COUNT is per stream at most
        read += batch
    for stream in ("orders", "refunds"):
        mine = [one for one in read if one.stream == stream]
        assert payloads(mine) == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
        assert await engine.pending_count(stream, "billing") == 3


async def test_a_crashed_consumer_reads_its_pending_entries_again(engine: Engine) -> None:
    await engine.ensure_group("orders", "billing")
    ids = await engine.append("orders", [envelope(n) for n in range(3)])
    await engine.read_new(["orders"], "billing", "b1", count=2, block=0)  # then crashes
    await engine.read_new(["orders"], "billing", "b2", count=10, block=0)

    again = await engine.read_pending("orders", "billing", "b1", count=10)  # restarted
    assert [(one.entry_id, one.attempt) for one in again] == [(ids[0], 2), (ids[1], 2)]
    assert payloads(again) == [b'{"n": 0}', b'{"n": 1}']
    third = await engine.read_pending("orders", "billing", "b1", count=1)
    assert [(one.entry_id, one.attempt) for one in third] == [(ids[0], 3)]
    assert await engine.read_pending("orders", "billing", "nobody", count=10) == []

    await engine.ack("orders", "billing", [ids[0]])
    left = await engine.read_pending("orders", "billing", "b1", count=10)
    assert [(one.entry_id, one.attempt) for one in left] == [(ids[1], 3)]
    assert await engine.pending_count("orders", "billing") == 2  # ids[1] (b1), ids[2] (b2)


async def test_pending_entries_are_read_page_by_page_after_an_id(engine: Engine) -> None:
    await engine.ensure_group("orders", "billing")
    ids = await engine.append("orders", [envelope(n) for n in range(5)])
    await engine.read_new(["orders"], "billing", "b1", count=10, block=0)  # then crashes
    pages: list[list[str]] = []
    after: str | None = None
    while page := await engine.read_pending("orders", "billing", "b1", count=2, after=after):
        pages.append([one.entry_id for one in page])
        after = page[-1].entry_id
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]  # each once, in order
    again = await engine.read_pending("orders", "billing", "b1", count=10)
    assert [one.attempt for one in again] == [3, 3, 3, 3, 3]  # the pages counted once each


async def test_touched_entries_are_not_idle_and_their_count_stays(
    engine: Engine, advance: Advance
) -> None:
    await engine.ensure_group("orders", "billing")
    ids = await engine.append("orders", [envelope(n) for n in range(2)])
    await engine.read_new(["orders"], "billing", "b1", count=10, block=0)
    await advance(IDLE * 2)
    await engine.touch("orders", "billing", "b1", [ids[0]])  # still being handled
    claimed = await engine.claim("orders", "billing", "b2", idle=IDLE, count=10)
    assert [(one.entry_id, one.attempt) for one in claimed] == [(ids[1], 2)]
    await advance(IDLE * 2)
    [later] = await engine.claim("orders", "billing", "b2", idle=IDLE * 1.5, count=1)
    assert (later.entry_id, later.attempt) == (ids[0], 2)  # touching counted no delivery
    await engine.touch("orders", "billing", "b1", [])  # nothing to touch: fine


async def test_another_consumer_claims_entries_idle_long_enough(
    engine: Engine, advance: Advance
) -> None:
    await engine.ensure_group("orders", "billing")
    ids = await engine.append("orders", [envelope(n) for n in range(3)])
    await engine.read_new(["orders"], "billing", "dead", count=10, block=0)  # never acks
    assert await engine.claim("orders", "billing", "b2", idle=3600.0, count=10) == []

    await advance(IDLE * 2)
    claimed = await engine.claim("orders", "billing", "b2", idle=IDLE, count=2)
    assert [(one.entry_id, one.attempt) for one in claimed] == [(ids[0], 2), (ids[1], 2)]
    assert payloads(claimed) == [b'{"n": 0}', b'{"n": 1}']
    # A claim resets the idle time; the new owner has them, the dead consumer has none.
    assert await engine.claim("orders", "billing", "b3", idle=3600.0, count=10) == []
    owned = await engine.read_pending("orders", "billing", "b2", count=10)
    assert [(one.entry_id, one.attempt) for one in owned] == [(ids[0], 3), (ids[1], 3)]
    dead = await engine.read_pending("orders", "billing", "dead", count=10)
    assert [one.entry_id for one in dead] == [ids[2]]

    await engine.ack("orders", "billing", [one.entry_id for one in claimed])
    assert await engine.pending_count("orders", "billing") == 1


async def test_each_claim_counts_a_delivery(engine: Engine, advance: Advance) -> None:
    await engine.ensure_group("orders", "billing")
    [entry_id] = await engine.append("orders", [envelope(1)])
    await engine.read_new(["orders"], "billing", "b1", count=10, block=0)
    attempts = []
    for consumer in ("b2", "b3", "b2"):
        await advance(IDLE * 2)
        [claimed] = await engine.claim("orders", "billing", consumer, idle=IDLE, count=10)
        assert claimed.entry_id == entry_id
        attempts.append(claimed.attempt)
    assert attempts == [2, 3, 4]
    await engine.ack("orders", "billing", [entry_id])
    await advance(IDLE * 2)
    assert await engine.claim("orders", "billing", "b2", idle=IDLE, count=10) == []


async def test_claim_with_idle_zero_takes_every_pending_entry(engine: Engine) -> None:
    await engine.ensure_group("orders", "billing")
    await engine.append("orders", [envelope(n) for n in range(2)])
    await engine.read_new(["orders"], "billing", "b1", count=10, block=0)
    claimed = await engine.claim("orders", "billing", "b2", idle=0.0, count=10)
    assert [one.attempt for one in claimed] == [2, 2]
    assert await engine.read_pending("orders", "billing", "b1", count=10) == []


async def test_dead_letter_copies_the_entry_and_acks_it(engine: Engine) -> None:
    await engine.ensure_group("orders", "billing")
    sent = [envelope(n) for n in range(2)]
    ids = await engine.append("orders", sent)
    read = await engine.read_new(["orders"], "billing", "b1", count=10, block=0)
    [again, _] = await engine.read_pending("orders", "billing", "b1", count=10)
    assert await engine.dead_letters("orders") == []

    await engine.dead_letter(again, "billing", "ValueError: no such product")
    await engine.dead_letter(read[1], "billing", "cannot decode")
    assert await engine.dead_letters("orders") == [
        DeadLetter("orders", ids[0], sent[0], "billing", 2, "ValueError: no such product"),
        DeadLetter("orders", ids[1], sent[1], "billing", 1, "cannot decode"),
    ]
    assert await engine.pending_count("orders", "billing") == 0
    assert await engine.read_pending("orders", "billing", "b1", count=10) == []
    assert await engine.claim("orders", "billing", "b2", idle=0.0, count=10) == []


async def test_read_new_with_block_zero_returns_at_once(engine: Engine) -> None:
    await engine.ensure_group("orders", "billing")
    with anyio.fail_after(1):
        assert await engine.read_new(["orders"], "billing", "b1", count=10, block=0) == []


async def test_read_new_blocked_returns_when_an_entry_is_appended(engine: Engine) -> None:
    await engine.ensure_group("orders", "billing")
    await engine.ensure_group("refunds", "billing")
    read: list[Inbound] = []

    async def reader(task_status: anyio.abc.TaskStatus[None]) -> None:
        task_status.started()
        read.extend(
            await engine.read_new(["orders", "refunds"], "billing", "b1", count=10, block=30)
        )

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(reader)
            await anyio.wait_all_tasks_blocked()  # the reader waits in read_new
            await engine.append("refunds", [envelope(7)])
    assert [(one.stream, one.envelope.payload) for one in read] == [("refunds", b'{"n": 7}')]


async def test_a_cancelled_read_new_delivers_nothing(engine: Engine) -> None:
    await engine.ensure_group("orders", "billing")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: engine.read_new(["orders"], "billing", "b1", count=10, block=30))
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
    await engine.append("orders", [envelope(1)])
    assert await engine.pending_count("orders", "billing") == 0
    [read] = await engine.read_new(["orders"], "billing", "b2", count=10, block=0)
    assert read.attempt == 1


@pytest.mark.parametrize(
    "operation", ["read_new", "read_pending", "claim", "pending_count", "lag"]
)
async def test_an_unknown_group_is_an_error_naming_the_fix(engine: Engine, operation: str) -> None:
    await engine.ensure_group("orders", "billing")
    calls = {
        "read_new": lambda: engine.read_new(["orders"], "biling", "b1", count=1, block=0),
        "read_pending": lambda: engine.read_pending("orders", "biling", "b1", count=1),
        "claim": lambda: engine.claim("orders", "biling", "b1", idle=0.0, count=1),
        "pending_count": lambda: engine.pending_count("orders", "biling"),
        "lag": lambda: engine.lag("orders", "biling"),
    }
    with pytest.raises(GroupNotFoundError) as caught:
        await calls[operation]()
    error = caught.value
    assert isinstance(error, LookupError)
    assert (error.stream, error.group, error.operation) == ("orders", "biling", operation)
    assert "ensure_group('orders', 'biling')" in str(error)


async def test_read_new_on_a_stream_never_written_needs_its_group_too(engine: Engine) -> None:
    with pytest.raises(GroupNotFoundError) as caught:
        await engine.read_new(["orders"], "billing", "b1", count=1, block=0)
    assert (caught.value.stream, caught.value.group) == ("orders", "billing")
    await engine.ensure_group("orders", "billing")  # creates the stream, as MKSTREAM does
    assert await engine.read_new(["orders"], "billing", "b1", count=1, block=0) == []
