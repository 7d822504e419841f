"""mediary 0.4.0, as its README shows (https://pypi.org/project/mediary/).

Messages are decorated with ``@request``/``@notification``/``@stream_request``
and handlers registered with ``Mediator.register``; the pass-through behavior
is an async function added with ``Mediator.use``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import mediary
from mediary import Mediator, Next, Returns, Yields, notification, request, stream_request

from bench.adapters.case import Case
from bench.baseline import TICKS

NAME = f"mediary {mediary.__version__}"
REQUIREMENT = "mediary==0.4.0"
PIP_FLAGS: tuple[str, ...] = ()


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
    for _ in range(10):
        # Registering one function twice "changes nothing": ten distinct handlers.
        async def handle_tick_n(event: Tick) -> None:
            TICKS[0] += 1

        ten.register(Tick, handle_tick_n)

    ping, tick, stream = Ping(1), Tick(1), Count(1000)

    async def request_(n: int) -> None:
        for _ in range(n):
            await requests.send(ping)

    async def request_modifier(n: int) -> None:
        for _ in range(n):
            await modified.send(ping)

    async def event_1(n: int) -> None:
        for _ in range(n):
            await one.publish(tick)

    async def event_10(n: int) -> None:
        for _ in range(n):
            await ten.publish(tick)

    async def stream_1000(n: int) -> None:
        for _ in range(n):
            async with requests.stream(stream) as items:
                async for _ in items:
                    pass

    async def check_request() -> None:
        assert await requests.send(ping) == 2

    async def check_modifier() -> None:
        assert await modified.send(ping) == 2

    def check_events(bus: Mediator, handlers: int) -> Any:
        async def check() -> None:
            before = TICKS[0]
            await bus.publish(tick)
            assert TICKS[0] - before == handlers

        return check

    async def check_stream() -> None:
        async with requests.stream(stream) as items:
            assert [i async for i in items] == list(range(1000))

    return {
        "request": Case(request_, check_request),
        "request_kwarg": "no call-time injection: send() takes only the request",
        "request_modifier": Case(request_modifier, check_modifier),
        "event_1": Case(event_1, check_events(one, 1)),
        "event_10": Case(event_10, check_events(ten, 10)),
        "stream_1000": Case(stream_1000, check_stream),
    }
