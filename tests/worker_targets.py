"""Targets for ``python -m mediator worker`` in tests/test_cli_worker.py.

Each worker reads a `MemoryEngine` of this process, filled with three
``orders.placed`` events; its handler prints ``handled order N`` (and
flushes), which is what the tests wait for on the command's stdout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import anyio

from mediator import LocalEventBus
from mediator.transports import Envelope, EventTypes, JsonCodec, MemoryEngine, Worker, new_id

types = EventTypes()


@types.register(name="orders.placed")
@dataclass
class Placed:
    order: int


codec = JsonCodec(types)

ORDERS = (1, 2, 3)


def envelopes() -> list[Envelope]:
    encoded = [codec.encode(Placed(order)) for order in ORDERS]
    return [Envelope(new_id(), e.type, e.version, datetime.now(UTC), e.payload) for e in encoded]


def printing_bus(*, stuck: bool = False, refused: int | None = None) -> LocalEventBus:
    """A bus whose handler prints each order; ``stuck``: then waits forever."""
    bus = LocalEventBus()

    @bus.register
    async def on_placed(event: Placed) -> None:
        print(f"handled order {event.order}", flush=True)
        if event.order == refused:
            raise ValueError(f"order {refused} is refused")
        if stuck:
            await anyio.Event().wait()

    return bus


def worker_of(
    engine: MemoryEngine, bus: LocalEventBus, *, grace: float = 10.0, max_deliveries: int = 5
) -> Worker:
    return Worker(
        engine,
        codec,
        bus,
        streams="orders",
        group="billing",
        consumer="test-1",
        block=0.05,
        grace=grace,
        max_deliveries=max_deliveries,
    )


def filled_now() -> MemoryEngine:
    """Filled outside any event loop: for the targets made before the command's loop starts."""
    engine = MemoryEngine()
    anyio.run(engine.append, "orders", envelopes())
    return engine


# -- the targets ---------------------------------------------------------------------------

worker = worker_of(filled_now(), printing_bus())


def make_worker() -> Worker:
    return worker_of(filled_now(), printing_bus())


def refusing() -> Worker:
    """Order 2 fails, once: it goes to the dead letters at once (and the log says so)."""
    return worker_of(filled_now(), printing_bus(refused=2), max_deliveries=1)


async def connect() -> Worker:
    engine = MemoryEngine()
    await engine.append("orders", envelopes())
    return worker_of(engine, printing_bus())


async def stuck() -> Worker:
    """Its handlers never finish: stopping waits for its grace (a minute)."""
    engine = MemoryEngine()
    await engine.append("orders", envelopes())
    return worker_of(engine, printing_bus(stuck=True), grace=60.0)


class Unrecoverable(BaseException):
    """Not an `Exception`: the worker does not take it for an engine that is down."""


class GoneEngine(MemoryEngine):
    async def ensure_group(self, stream: str, group: str) -> None:
        raise Unrecoverable("the broker is gone for good")


async def broken() -> Worker:
    """Its engine raises what the worker cannot ride out (a down engine is retried)."""
    return worker_of(GoneEngine(), printing_bus())


not_a_worker = 42


def make_nothing() -> str:
    return "nothing"


async def connect_nothing() -> None:
    return None


def needs_settings(settings: str) -> Worker:
    raise AssertionError("never called")


def failing() -> Worker:
    raise RuntimeError("no settings")
