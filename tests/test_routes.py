"""bus.routes(): the handler map as data, in dispatch order, read from what dispatch uses."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

import mediator
from mediator import (
    EventHandlerRegistry,
    LocalEventBus,
    LocalRequestBus,
    Next,
    RequestHandlerRegistry,
    Route,
    around,
)
from mediator.errors import UnresolvedAnnotationError
from mediator.testing import override

HERE = __file__.rsplit("/", 1)[-1]


@dataclass
class GetUser:
    user_id: int


@dataclass
class GetAdmin(GetUser):
    pass


@dataclass
class CountTo:
    n: int


@dataclass
class OrderPlaced:
    order_id: int


@dataclass
class BigOrderPlaced(OrderPlaced):
    pass


@dataclass
class Shipped:
    order_id: int


async def get_user(query: GetUser) -> str:
    return "user"


async def get_admin(query: GetAdmin) -> str:
    return "admin"


async def count_to(query: CountTo) -> AsyncIterator[int]:
    for n in range(query.n):
        yield n


async def count_once(query: CountTo) -> int:
    return query.n


async def log_calls(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
    return await call_next(message, kwargs)


async def check_calls(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
    return await call_next(message, kwargs)


@around
async def spanning(message: Any, kwargs: dict[str, Any], call_next: Next) -> AsyncIterator[Any]:
    yield await call_next(message, kwargs)


def summary(routes: list[Route]) -> list[tuple[type, str, str]]:
    return [(r.message_type, r.kind, r.handler.name.rpartition(".")[2]) for r in routes]


def test_a_request_bus_lists_its_handlers_by_type_in_registration_order() -> None:
    bus = LocalRequestBus()
    bus.register(get_admin)
    bus.register(get_user)

    routes = bus.routes()

    assert summary(routes) == [(GetAdmin, "request", "get_admin"), (GetUser, "request", "get_user")]
    first = routes[0]
    assert first.handler.fn is get_admin
    assert first.handler.name == f"{__name__}.get_admin"
    assert first.handler.location is not None
    assert first.handler.location.endswith(f"{HERE}:{get_admin.__code__.co_firstlineno}")
    assert first.modifiers == ()


def test_a_route_is_a_frozen_public_value() -> None:
    bus = LocalRequestBus()
    bus.register(get_user)
    [route] = bus.routes()

    assert mediator.Route is Route
    assert Route.__module__ == "mediator"
    assert route == Route(GetUser, "request", route.handler, ())
    assert not hasattr(route, "__dict__")  # slots
    with pytest.raises(dataclasses.FrozenInstanceError):
        route.kind = "event"  # type: ignore[misc]
    assert repr(route).startswith(
        f"Route(message_type=<class '{__name__}.GetUser'>, kind='request'"
    )


def test_an_empty_bus_has_no_routes() -> None:
    assert LocalRequestBus().routes() == []
    assert LocalEventBus().routes() == []
    assert EventHandlerRegistry().routes() == []


def test_streams_are_their_own_kind_after_the_plain_handler_of_the_same_type() -> None:
    bus = LocalRequestBus()
    bus.register(count_to)
    bus.register(get_user)
    bus.register(count_once)  # CountTo's plain handler, registered after its stream handler

    assert summary(bus.routes()) == [
        (CountTo, "request", "count_once"),
        (CountTo, "stream", "count_to"),
        (GetUser, "request", "get_user"),
    ]
    assert [r.handler.kind for r in bus.routes()] == ["async", "stream", "async"]


async def test_event_handlers_of_a_type_come_in_the_order_they_run() -> None:
    bus = LocalEventBus()
    ran: list[str] = []

    async def on_big(event: BigOrderPlaced) -> None:
        ran.append("on_big")

    async def first(event: OrderPlaced) -> None:
        ran.append("first")

    async def second(event: OrderPlaced) -> None:
        ran.append("second")

    async def anything(event: object) -> None:
        ran.append("anything")

    for handler in (first, on_big, anything, second):
        bus.register(handler)

    routes = bus.routes()
    assert summary(routes) == [
        (OrderPlaced, "event", "first"),
        (OrderPlaced, "event", "second"),
        (BigOrderPlaced, "event", "on_big"),
        (object, "event", "anything"),
    ]
    # The map predicts dispatch: an event reaches the routes of its MRO, class by class.
    expected = [
        route.handler.fn.__name__
        for cls in BigOrderPlaced.__mro__
        for route in routes
        if route.message_type is cls
    ]
    await bus.publish(BigOrderPlaced(1))
    assert ran == expected == ["on_big", "first", "second", "anything"]


def test_a_union_handler_appears_once_per_member_type() -> None:
    events = LocalEventBus()

    async def shipped(event: Shipped) -> None: ...

    async def either(event: OrderPlaced | Shipped) -> None: ...

    events.register(shipped)
    events.register(either)

    routes = events.routes()
    assert summary(routes) == [
        (Shipped, "event", "shipped"),
        (Shipped, "event", "either"),
        (OrderPlaced, "event", "either"),
    ]
    assert routes[1].handler is routes[2].handler

    requests = LocalRequestBus()

    async def lookup(query: GetUser | CountTo) -> int:
        return 0

    requests.register(lookup)
    assert summary(requests.routes()) == [
        (GetUser, "request", "lookup"),
        (CountTo, "request", "lookup"),
    ]


def test_modifiers_are_listed_outermost_first() -> None:
    registry = RequestHandlerRegistry(modifiers=[check_calls])
    registry.register(get_user, modifiers=[spanning])
    bus = LocalRequestBus(modifiers=[log_calls])
    bus.include(registry)
    bus.register(get_admin)

    by_type = {route.message_type: route for route in bus.routes()}
    assert by_type[GetUser].modifiers == (log_calls, check_calls, spanning)
    assert by_type[GetAdmin].modifiers == (log_calls,)
    # The registry itself keeps its own stack.
    assert [route.modifiers for route in registry.routes()] == [(check_calls, spanning)]


def test_registries_have_routes_of_their_kind() -> None:
    requests = RequestHandlerRegistry()
    requests.register(get_user)
    requests.register(count_to)
    events = EventHandlerRegistry()

    async def placed(event: OrderPlaced) -> None: ...

    events.register(placed)

    assert summary(requests.routes()) == [
        (GetUser, "request", "get_user"),
        (CountTo, "stream", "count_to"),
    ]
    assert summary(events.routes()) == [(OrderPlaced, "event", "placed")]


def test_an_overridden_handler_is_what_the_map_shows() -> None:
    bus = LocalRequestBus()
    bus.register(get_user)

    async def fake_user(query: GetUser) -> str:
        return "fake"

    with override(bus, fake_user):
        assert [route.handler.fn for route in bus.routes()] == [fake_user]
    assert [route.handler.fn for route in bus.routes()] == [get_user]


# -- annotations resolved later --------------------------------------------------------


async def on_later(event: Later) -> None:  # noqa: F821
    """Its class is only defined by the tests (monkeypatched into this module)."""


def test_routes_resolves_annotations_left_for_later(monkeypatch: pytest.MonkeyPatch) -> None:
    bus = LocalEventBus()
    bus.register(on_later)
    later = type("Later", (), {"__module__": __name__})
    monkeypatch.setattr(sys.modules[__name__], "Later", later, raising=False)

    [route] = bus.routes()

    assert route.message_type is later
    assert route.handler.name == f"{__name__}.on_later"
    assert route.handler.unresolved is None


def test_routes_raises_for_an_annotation_that_still_names_no_class() -> None:
    bus = LocalEventBus()

    async def placed(event: OrderPlaced) -> None: ...

    bus.register(placed)
    bus.register(on_later)

    with pytest.raises(UnresolvedAnnotationError) as caught:
        bus.routes()

    assert caught.value.handler.fn is on_later
    assert caught.value.name == "Later"
    message = str(caught.value)
    assert "test_routes.on_later" in message
    assert "'Later'" in message
    # The rest is routed, as the first dispatch would have routed it.
    assert [handler.fn for handler in bus.handlers] == [placed, on_later]
    assert len(bus._pending) == 1
