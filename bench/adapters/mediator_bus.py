"""This project, used as its README shows (its own measurements are in `bench.ours`)."""

from __future__ import annotations

from typing import Any

from bench import baseline
from bench.adapters.case import Case, collects, counts, drain, repeat, repeat_as_user, returns
from bench.baseline import Count, Ping, Tick
from mediator import LocalEventBus, LocalRequestBus, Next, __version__

NAME = f"mediator-bus {__version__}"


async def passthrough(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
    """The README's middleware style."""
    return await call_next(message, kwargs)


def cases() -> dict[str, Case | str]:
    requests = LocalRequestBus()
    with_user = LocalRequestBus()
    modified = LocalRequestBus(modifiers=[passthrough])
    one = LocalEventBus()
    ten = LocalEventBus()
    concurrent = LocalEventBus(strategy="concurrent")

    requests.register(baseline.handle_ping)
    modified.register(baseline.handle_ping)
    with_user.register(baseline.handle_ping_as)
    requests.register(baseline.count)
    one.register(baseline.handle_tick)
    for handler in baseline.tick_handlers(10):
        ten.register(handler)
        concurrent.register(handler)

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
        "event_10_concurrent": Case(
            repeat(concurrent.publish, tick), counts(concurrent.publish, tick, baseline.TICKS, 10)
        ),
        "stream_1000": Case(
            drain(requests.stream, stream), collects(requests.stream, stream, list(range(1000)))
        ),
    }
