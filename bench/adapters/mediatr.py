"""mediatr 1.3.2 (megafetis/mediatr_py), as its README shows.

Handlers and behaviors live in the class-wide registry of ``Mediator``
(``Mediator.register_handler``/``register_behavior``); a behavior applies to
the request type its parameter is annotated with, so the middleware scenario
uses its own request class.
"""

# No `from __future__ import annotations`: mediatr reads __annotations__ as
# they are and cannot resolve string annotations.
from typing import Any

from mediatr import Mediator

from bench.adapters.case import Case, repeat, returns

NAME = "mediatr 1.3.2"

NO_EVENTS = "no notifications: one handler per request type"


class Ping:
    def __init__(self, value: int) -> None:
        self.value = value


class PingThrough(Ping):
    """The request the pass-through behavior applies to."""


async def handle_ping(request: Ping) -> int:
    return request.value + 1


async def handle_ping_through(request: PingThrough) -> int:
    return request.value + 1


async def passthrough(request: PingThrough, next: Any) -> Any:
    return await next()


def cases() -> "dict[str, Case | str]":
    Mediator.register_handler(handle_ping)
    Mediator.register_handler(handle_ping_through)
    Mediator.register_behavior(passthrough)
    mediator = Mediator()
    ping, through = Ping(1), PingThrough(1)
    return {
        "request": Case(repeat(mediator.send_async, ping), returns(mediator.send_async, ping, 2)),
        "request_kwarg": "no call-time injection: send_async() takes only the request",
        "request_modifier": Case(
            repeat(mediator.send_async, through), returns(mediator.send_async, through, 2)
        ),
        "event_1": NO_EVENTS,
        "event_10": NO_EVENTS,
        "event_10_concurrent": NO_EVENTS,
        "stream_1000": "no stream requests",
    }
