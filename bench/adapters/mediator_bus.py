"""This project, used as its README shows."""

from __future__ import annotations

from typing import Any

from bench import baseline
from bench.adapters.case import Case, collects, counts, drain, repeat, repeat_as_user, returns
from bench.baseline import Count, Ping, Tick
from mediator import (
    ActionCallType,
    ActionSubject,
    LocalEventBus,
    LocalRequestBus,
    ModifierFactory,
    Next,
    __version__,
)

NAME = f"mediator-bus {__version__}"
REQUIREMENT = None
PIP_FLAGS: tuple[str, ...] = ()


async def passthrough(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
    """The README's middleware style."""
    return await call_next(message, kwargs)


class PassThrough(ModifierFactory):
    """python-mediator's modifier style (measured among the extras)."""

    def create(self, call: ActionCallType, /, **kwargs: Any) -> ActionCallType:
        async def passthrough(action: ActionSubject) -> Any:
            return await call(action)

        return passthrough


def cases() -> dict[str, Case | str]:
    requests = LocalRequestBus()
    with_user = LocalRequestBus()
    modified = LocalRequestBus(modifiers=[passthrough])
    one = LocalEventBus()
    ten = LocalEventBus()

    requests.register(baseline.handle_ping)
    modified.register(baseline.handle_ping)
    with_user.register(baseline.handle_ping_as)
    requests.register(baseline.count)
    one.register(baseline.handle_tick)
    for _ in range(10):
        ten.register(baseline.handle_tick)

    ping, tick, stream = Ping(1), Tick(1), Count(1000)
    return {
        "request": Case(repeat(requests.execute, ping), returns(requests.execute, ping, 2)),
        "request_kwarg": Case(
            repeat_as_user(with_user.execute, ping),
            returns(with_user.execute, ping, "ada", user="ada"),
        ),
        "request_modifier": Case(
            repeat(modified.execute, ping), returns(modified.execute, ping, 2)
        ),
        "event_1": Case(repeat(one.publish, tick), counts(one.publish, tick, baseline.TICKS, 1)),
        "event_10": Case(repeat(ten.publish, tick), counts(ten.publish, tick, baseline.TICKS, 10)),
        "stream_1000": Case(
            drain(requests.stream, stream), collects(requests.stream, stream, list(range(1000)))
        ),
    }


async def extra(name: str, request: dict[str, Any]) -> dict[str, Any]:
    """Measurements of this project alone (the runner asks for them once)."""
    import gc
    import time
    import tracemalloc

    quick = bool(request.get("quick"))
    report: dict[str, Any] = {}

    # A match through a base class, once cached, against an exact match.
    class Base:
        pass

    class Child(Base):
        pass

    exact, inherited = LocalRequestBus(), LocalRequestBus()

    @exact.register
    async def on_child(message: Child) -> int:
        return 1

    @inherited.register
    async def on_base(message: Base) -> int:
        return 1

    child = Child()

    async def loop(bus: LocalRequestBus, n: int) -> float:
        started = time.perf_counter_ns()
        for _ in range(n):
            await bus.execute(child)
        return (time.perf_counter_ns() - started) / n

    n = 50_000 if quick else 200_000
    pairs = [(await loop(exact, n), await loop(inherited, n)) for _ in range(5)]
    exact_ns = sorted(p[0] for p in pairs)[2]
    inherited_ns = sorted(p[1] for p in pairs)[2]
    report["base-class match, cached (ns/call, exact -> inherited)"] = (
        f"{exact_ns:.1f} -> {inherited_ns:.1f} ({inherited_ns / exact_ns:.2f}x)"
    )

    # The python-mediator modifier style, against the middleware function style.
    plain, boxed = (
        LocalRequestBus(modifiers=[passthrough]),
        LocalRequestBus(modifiers=[PassThrough()]),
    )
    plain.register(on_child)
    boxed.register(on_child)
    pairs = [(await loop(plain, n), await loop(boxed, n)) for _ in range(5)]
    report["one pass-through modifier (ns/call, middleware function -> ModifierFactory)"] = (
        f"{sorted(p[0] for p in pairs)[2]:.1f} -> {sorted(p[1] for p in pairs)[2]:.1f}"
    )

    # Registering 10,000 handlers, each for its own message class.
    for bus_type in (LocalRequestBus, LocalEventBus):
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
        report[f"register 10,000 handlers on {bus_type.__name__} (s)"] = round(
            time.perf_counter() - started, 3
        )

    # Memory: a million calls (request, request + kwarg, event) must not grow it.
    requests, events = LocalRequestBus(), LocalEventBus()

    @requests.register
    async def ping(message: Ping, user: str = "-") -> int:
        return 1

    @events.register
    async def tick(event: Tick) -> None:
        return None

    calls = 200_000 if quick else 1_000_000
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
    report[f"memory growth over {calls:,} calls (bytes)"] = after - before
    return report
