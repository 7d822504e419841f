"""slck-mediator 1.0.2, as its Python guide shows (chandru415.github.io/slck-mediator-docs).

Its package is also named ``mediator``: the worker loads it from its own
``--target`` folder.  Handlers are objects with ``handle(request, context)``
(the guide's plain-function registration fails: the runtime calls
``handler.handle``).  Its default ``ConsoleLogger`` prints every span to
stdout; a quiet logger is passed instead, as any service would; metrics and
tracer keep their defaults.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bench.adapters.case import Case
from bench.baseline import TICKS
from mediator import Mediator, Notification, Request, StreamRequest

NAME = "slck-mediator 1.0.2"
REQUIREMENT = "slck-mediator==1.0.2"
PIP_FLAGS: tuple[str, ...] = ()


@dataclass
class Ping(Request[int]):
    value: int


@dataclass
class Tick(Notification):
    value: int


@dataclass
class Count(StreamRequest[int]):
    items: int


class QuietLogger:
    def debug(self, message: str, fields: dict[str, Any] | None = None) -> None: ...
    def info(self, message: str, fields: dict[str, Any] | None = None) -> None: ...
    def warning(self, message: str, fields: dict[str, Any] | None = None) -> None: ...
    def error(self, message: str, fields: dict[str, Any] | None = None) -> None: ...


class PingHandler:
    async def handle(self, request: Ping, context: Any) -> int:
        return request.value + 1


class TickHandler:
    async def handle(self, notification: Tick, context: Any) -> None:
        TICKS[0] += 1


class CountHandler:
    async def handle(self, request: Count, context: Any) -> AsyncIterator[int]:
        async def items() -> AsyncIterator[int]:
            for index in range(request.items):
                yield index

        return items()


class PassThrough:
    name = "passthrough"

    async def handle(self, request: Any, next_handler: Any, context: Any) -> Any:
        return await next_handler()


def cases() -> dict[str, Case | str]:
    def mediator() -> Mediator:
        return Mediator(logger=QuietLogger())

    requests, modified, one, ten = mediator(), mediator(), mediator(), mediator()
    requests.register_request_handler(Ping, PingHandler())
    requests.register_stream_handler(Count, CountHandler())
    modified.register_request_handler(Ping, PingHandler())
    modified.register_pipeline(PassThrough())
    one.register_notification_handler(Tick, TickHandler())
    for _ in range(10):
        ten.register_notification_handler(Tick, TickHandler())

    ping, tick, stream = Ping(1), Tick(1), Count(1000)

    async def request(n: int) -> None:
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
            async for _ in requests.stream(stream):
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
        assert [i async for i in requests.stream(stream)] == list(range(1000))

    return {
        "request": Case(request, check_request),
        "request_kwarg": "no call-time injection: send() takes the request and DispatchOptions",
        "request_modifier": Case(request_modifier, check_modifier),
        "event_1": Case(event_1, check_events(one, 1)),
        "event_10": Case(event_10, check_events(ten, 10)),
        "stream_1000": Case(stream_1000, check_stream),
    }
