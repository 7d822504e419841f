"""The worker's handoff (a batch put without waiting, FIFO, room for `size`, close), and `builder`."""

from __future__ import annotations

import anyio
import pytest

from mediator.transports._handoff import Handoff

pytestmark = pytest.mark.anyio


async def test_items_come_out_in_order_and_offer_refuses_past_the_size() -> None:
    jobs = Handoff[int](3)
    assert [jobs.offer(n) for n in range(4)] == [True, True, True, False]
    assert len(jobs) == 3
    assert [jobs.take(), jobs.take(), jobs.take(), jobs.take()] == [0, 1, 2, None]


async def test_put_waits_for_room_and_a_take_makes_it() -> None:
    jobs = Handoff[int](1)
    jobs.offer(1)
    put = anyio.Event()

    async def producer() -> None:
        await jobs.put(2)
        put.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(producer)
        await anyio.wait_all_tasks_blocked()
        assert not put.is_set()  # full: it waits
        assert jobs.take() == 1
        await put.wait()
    assert jobs.take() == 2


async def test_a_cancelled_put_adds_nothing() -> None:
    jobs = Handoff[int](1)
    jobs.offer(1)
    with anyio.move_on_after(0):
        await jobs.put(2)
    assert (jobs.take(), jobs.take()) == (1, None)


async def test_waiting_tasks_wake_for_items_then_learn_it_closed() -> None:
    jobs = Handoff[int](10)
    got: list[int] = []
    done = anyio.Event()

    async def consumer() -> None:
        while True:
            item = jobs.take()
            if item is None:
                if not await jobs.wait():
                    break
                continue
            got.append(item)
            if len(got) == 4:
                done.set()

    async with anyio.create_task_group() as tasks:
        for _ in range(3):
            tasks.start_soon(consumer)
        await anyio.wait_all_tasks_blocked()
        for n in range(4):
            assert jobs.offer(n)
        await done.wait()
        jobs.offer(99)  # left in it: closing stops the takes, not the items
        jobs.close()
    assert got == [0, 1, 2, 3]
    assert len(jobs) == 1 and jobs.take() is None


def test_builder_makes_what_the_dataclass_would() -> None:
    from datetime import UTC, datetime

    from mediator.transports import Envelope
    from mediator.transports._frozen import builder

    when = datetime.now(UTC)
    made = builder(Envelope)("id", "t", 2, when, b"{}", "k", {"a": "b"}, "application/json")
    assert made == Envelope("id", "t", 2, when, b"{}", "k", {"a": "b"})
    with pytest.raises(AttributeError):
        made.id = "other"  # type: ignore[misc]  # still frozen

    class Plain:
        pass

    with pytest.raises(TypeError, match=r"builder\(.*Plain\): not a slotted dataclass"):
        builder(Plain)
