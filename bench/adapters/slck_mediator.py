"""slck-mediator 1.0.2, as its Python guide shows (chandru415.github.io/slck-mediator-docs).

Its package is also named ``mediator``: the worker loads it from its own
``--target`` folder.  Handlers are objects with ``handle(request, context)``
(the guide's plain-function registration fails: the runtime calls
``handler.handle``).  Its default ``ConsoleLogger`` prints every span to
stdout; a quiet logger is passed instead, as any service would; metrics and
tracer keep their defaults.  Concurrent publishing is its built-in
``TaskWhenAllPublisher`` (``asyncio.gather`` over the handlers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bench.adapters.case import Case, collects, counts, drain, repeat, returns
from bench.baseline import TICKS
from mediator import Mediator, Notification, Request, StreamRequest, TaskWhenAllPublisher

NAME = "slck-mediator 1.0.2"


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
    def mediator(publisher: TaskWhenAllPublisher | None = None) -> Mediator:
        return Mediator(logger=QuietLogger(), notification_publisher=publisher)

    requests, modified, one, ten = mediator(), mediator(), mediator(), mediator()
    concurrent = mediator(TaskWhenAllPublisher())
    requests.register_request_handler(Ping, PingHandler())
    requests.register_stream_handler(Count, CountHandler())
    modified.register_request_handler(Ping, PingHandler())
    modified.register_pipeline(PassThrough())
    one.register_notification_handler(Tick, TickHandler())
    for _ in range(10):
        ten.register_notification_handler(Tick, TickHandler())
        concurrent.register_notification_handler(Tick, TickHandler())

    ping, tick, stream = Ping(1), Tick(1), Count(1000)
    return {
        "request": Case(repeat(requests.send, ping), returns(requests.send, ping, 2)),
        "request_kwarg": "no call-time injection: send() takes the request and DispatchOptions",
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
