"""Measurements of mediator-bus alone, with no peer to compare with.

The runner asks our worker for them once, after the rounds (``{"cmd": "extra"}``).
They live apart from `bench.adapters.mediator_bus` so that this adapter, like
every other, only says how the shared scenarios are run.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from typing import Any

from bench import batteries, pipeline
from bench.adapters.mediator_bus import passthrough
from bench.baseline import Ping, Tick
from mediator import LocalEventBus, LocalRequestBus
from mediator.common.modifiers import ActionCallType, ActionSubject, ModifierFactory


class PassThrough(ModifierFactory):
    """python-mediator's modifier style, next to the middleware function style."""

    def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
        async def passthrough(action: ActionSubject) -> Any:
            return await call(action)

        return passthrough


class Base:
    pass


class Child(Base):
    pass


async def on_child(message: Child) -> int:
    return 1


async def on_base(message: Base) -> int:
    return 1


async def _ns_per_call(bus: LocalRequestBus, message: Any, n: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(n):
        await bus.execute(message)
    return (time.perf_counter_ns() - started) / n


async def _median_pair(
    first: LocalRequestBus, second: LocalRequestBus, n: int
) -> tuple[float, float]:
    """Median of 5 alternated runs of each bus: both sides see the same machine noise."""
    child = Child()
    pairs = [
        (await _ns_per_call(first, child, n), await _ns_per_call(second, child, n))
        for _ in range(5)
    ]
    return sorted(p[0] for p in pairs)[2], sorted(p[1] for p in pairs)[2]


async def extra(quick: bool) -> dict[str, Any]:
    """The report's "mediator-bus only" section; ``quick`` shortens the loops."""
    report: dict[str, Any] = {}
    n = 50_000 if quick else 200_000

    # A match through a base class, once cached, against an exact match.
    exact, inherited = LocalRequestBus(), LocalRequestBus()
    exact.register(on_child)
    inherited.register(on_base)
    exact_ns, inherited_ns = await _median_pair(exact, inherited, n)
    report["base-class match, cached (ns/call, exact -> inherited)"] = (
        f"{exact_ns:.1f} -> {inherited_ns:.1f} ({inherited_ns / exact_ns:.2f}x)"
    )

    # The python-mediator modifier style, against the middleware function style.
    plain = LocalRequestBus(modifiers=[passthrough])
    boxed = LocalRequestBus(modifiers=[PassThrough()])
    plain.register(on_child)
    boxed.register(on_child)
    plain_ns, boxed_ns = await _median_pair(plain, boxed, n)
    report["one pass-through modifier (ns/call, middleware function -> ModifierFactory)"] = (
        f"{plain_ns:.1f} -> {boxed_ns:.1f}"
    )

    for bus_type in (LocalRequestBus, LocalEventBus):
        seconds = _register_10_000(bus_type)
        report[f"register 10,000 handlers on {bus_type.__name__} (s)"] = round(seconds, 3)

    for name, value in (await batteries.measure(n)).items():
        report[name] = value
    report.update(await pipeline.measure(quick))

    calls = 200_000 if quick else 1_000_000
    report[f"memory growth over {calls:,} calls (bytes)"] = await _memory_growth(calls)
    return report


def _register_10_000(bus_type: type[LocalRequestBus] | type[LocalEventBus]) -> float:
    """Seconds to register 10,000 handlers, each for its own message class."""
    handlers = []
    for index in range(10_000):

        async def handler(message: Any) -> None:
            return None

        handler.__annotations__["message"] = type(f"Message{index}", (), {})
        handlers.append(handler)
    bus: Any = bus_type()
    started = time.perf_counter()
    for handler in handlers:
        bus.register(handler)
    return time.perf_counter() - started


async def _memory_growth(calls: int) -> int:
    """Traced bytes gained over ``calls`` calls (request, request + kwarg, event): a leak shows."""
    requests, events = LocalRequestBus(), LocalEventBus()

    @requests.register
    async def ping(message: Ping, user: str = "-") -> int:
        return 1

    @events.register
    async def tick(event: Tick) -> None:
        return None

    message, event = Ping(1), Tick(1)
    for _ in range(10_000):  # warm up caches
        await requests.execute(message, user="x")
        await events.publish(event)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(calls // 3):
        await requests.execute(message)
        await requests.execute(message, user="ada")
        await events.publish(event)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before
