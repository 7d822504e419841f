"""Static typing of ``bus.routes()`` and `Route`, checked with mypy --strict and pyright (strict).

Not run: type checkers read it (tests/test_typing.py runs them).  Lines
marked ``# type: ignore[...]`` must be rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, assert_type

from mediator import (
    EventHandlerRegistry,
    Handler,
    LocalEventBus,
    LocalRequestBus,
    Modifier,
    RequestHandlerRegistry,
    Route,
)

requests = LocalRequestBus()
events = LocalEventBus()


@dataclass
class GetUser:
    user_id: int


@requests.register
async def get_user(query: GetUser) -> str:
    return "ada"


assert_type(requests.routes(), list[Route])
assert_type(events.routes(), list[Route])
assert_type(RequestHandlerRegistry().routes(), list[Route])
assert_type(EventHandlerRegistry().routes(), list[Route])

for route in requests.routes():
    assert_type(route.message_type, type)
    assert_type(route.kind, Literal["request", "stream", "event"])
    assert_type(route.handler, Handler)
    assert_type(route.handler.name, str)
    assert_type(route.handler.location, str | None)
    assert_type(route.modifiers, tuple[Modifier, ...])

    if route.kind == "stream":
        print(route.handler.described)


def mistakes(route: Route) -> None:
    route.kind = "event"  # type: ignore[misc]
    wrong: Literal["request"] = route.kind  # type: ignore[assignment]
    Route(GetUser, "command", route.handler)  # type: ignore[arg-type]
    print(wrong)
