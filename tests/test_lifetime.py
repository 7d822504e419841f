"""What the buses keep, and registration from other threads while the loop dispatches."""

from __future__ import annotations

import gc
import sys
import threading
import weakref
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from mediator import LocalEventBus, LocalRequestBus, StreamRequest


class Base:
    pass


def make_classes(count: int) -> list[type[Base]]:
    return [type(f"Runtime{index}", (Base,), {}) for index in range(count)]


async def test_request_classes_created_at_run_time_leave_the_caches() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def handle(query: Base) -> str:
        return "base"

    classes = make_classes(200)
    for cls in classes:
        assert await bus.execute(cls()) == "base"
    alive = [weakref.ref(cls) for cls in classes]
    del classes, cls
    gc.collect()
    assert [ref for ref in alive if ref() is not None] == []
    assert await bus.execute(Base()) == "base"  # classes of a module stay cached
    assert Base in bus._call_cache


async def test_stream_and_event_classes_created_at_run_time_leave_the_caches() -> None:
    class Listing(StreamRequest[int]):
        pass

    requests = LocalRequestBus()
    events = LocalEventBus()
    seen: list[str] = []

    @requests.register
    async def numbers(query: Listing) -> Any:
        yield 1

    @events.register
    async def record(event: Base) -> None:
        seen.append(type(event).__name__)

    classes = make_classes(100)
    streams = [type(f"Listing{index}", (Listing,), {}) for index in range(100)]
    for cls, listing in zip(classes, streams, strict=True):
        await events.publish(cls())
        async with requests.stream(listing()) as items:
            assert [item async for item in items] == [1]
    assert len(seen) == 100
    alive = [weakref.ref(cls) for cls in [*classes, *streams]]
    del classes, streams, cls, listing
    gc.collect()
    assert [ref for ref in alive if ref() is not None] == []


# A sync test driving its own event loop: the registering thread must start
# before the loop, and the anyio plugin's loop would not be the one it sees.
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_registering_from_another_thread_while_the_loop_dispatches_loses_no_route(
    backend: str,
) -> None:
    """Every class first reaches the base handler (cached), then gets its own handler
    from another thread while the loop goes on dispatching every class."""
    count = 300
    classes = make_classes(count)
    requests = LocalRequestBus()
    events = LocalEventBus()
    reached: dict[type, list[str]] = {cls: [] for cls in classes}

    @requests.register
    async def base_query(query: Base) -> str:
        return "base"

    @events.register
    async def base_event(event: Base) -> None:
        pass

    def register_all(done: threading.Event) -> None:
        try:
            register_each()
        finally:
            done.set()

    def register_each() -> None:
        for cls in classes:

            async def own_query(query: Any) -> str:
                return "own"

            async def own_event(event: Any, cls: type = cls) -> None:
                reached[cls].append("own")

            own_query.__annotations__["query"] = cls
            own_event.__annotations__["event"] = cls
            requests.register(own_query)
            events.register(own_event)

    async def main() -> None:
        done = threading.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(anyio.to_thread.run_sync, register_all, done)
            while not done.is_set():
                for cls in classes:
                    await requests.execute(cls())
                    await events.publish(cls())
                await anyio.lowlevel.checkpoint()
        for cls in classes:
            reached[cls].clear()
        answers = [await requests.execute(cls()) for cls in classes]
        for cls in classes:
            await events.publish(cls())
        assert answers == ["own"] * count
        assert [cls for cls in classes if reached[cls] != ["own"]] == []

    # Each system call of the registering thread gives the GIL away, and the loop, never
    # idle, holds it for a whole switch interval: at the default 5 ms that made this test
    # take from 20 s to two minutes.  The race it looks for is the same at 0.1 ms.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0001)
    try:
        anyio.run(main, backend=backend)
    finally:
        sys.setswitchinterval(interval)
