"""mediary 0.4.0, as its README shows (https://pypi.org/project/mediary/).

Messages are decorated with ``@request``/``@notification``/``@stream_request``
and handlers registered with ``Mediator.register``; the pass-through behavior
is an async function added with ``Mediator.use``; concurrent publishing is
its ``Concurrent`` publish strategy (``Mediator(publish_strategy=Concurrent())``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import mediary
from mediary import (
    Concurrent,
    Mediator,
    Next,
    Returns,
    Yields,
    notification,
    request,
    stream_request,
)

from bench.adapters.case import Case, collects, counts, drain, repeat, returns
from bench.baseline import TICKS

NAME = f"mediary {mediary.__version__}"


@request
@dataclass
class Ping(Returns[int]):
    value: int


@notification
@dataclass
class Tick:
    value: int


@stream_request
@dataclass
class Count(Yields[int]):
    items: int


async def handle_ping(message: Ping) -> int:
    return message.value + 1


async def handle_tick(event: Tick) -> None:
    TICKS[0] += 1


async def count(message: Count) -> AsyncIterator[int]:
    for index in range(message.items):
        yield index


async def passthrough(message: object, next: Next[object]) -> object:
    return await next()


def cases() -> dict[str, Case | str]:
    requests, modified, one, ten = Mediator(), Mediator(), Mediator(), Mediator()
    requests.register(Ping, handle_ping)
    requests.register(Count, count)
    modified.register(Ping, handle_ping)
    modified.use(passthrough)
    one.register(Tick, handle_tick)
    concurrent = Mediator(publish_strategy=Concurrent())
    for bus in (ten, concurrent):
        for _ in range(10):
            # Registering one function twice "changes nothing": ten distinct handlers.
            async def handle_tick_n(event: Tick) -> None:
                TICKS[0] += 1

            bus.register(Tick, handle_tick_n)

    ping, tick, stream = Ping(1), Tick(1), Count(1000)
    return {
        "request": Case(repeat(requests.send, ping), returns(requests.send, ping, 2)),
        "request_kwarg": "no call-time injection: send() takes only the request",
        "request_modifier": Case(repeat(modified.send, ping), returns(modified.send, ping, 2)),
        "event_1": Case(repeat(one.publish, tick), counts(one.publish, tick, TICKS, 1)),
        "event_10": Case(repeat(ten.publish, tick), counts(ten.publish, tick, TICKS, 10)),
        "event_10_concurrent": Case(
            repeat(concurrent.publish, tick), counts(concurrent.publish, tick, TICKS, 10)
        ),
        "stream_1000": Case(
            drain(requests.stream, stream), collects(requests.stream, stream, list(range(1000)))
        ),
    }
