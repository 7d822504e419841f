"""The handler map as data: `Route`, and `routes_of` behind ``bus.routes()``.

Read from the routing tables a registry dispatches with, so the map is what
dispatch does, not what was once registered: one route per message type a
handler is routed under (a union handler appears under each class).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ._chain import Modifier
    from ._handler import Handler, HandlerEntry
    from ._registry import HandlerRegistry

__all__ = ["Route", "RouteKind", "routes_in", "routes_of"]

#: How a route is called: ``"request"`` (``bus.execute``), ``"stream"``
#: (``bus.stream``) or ``"event"`` (``bus.publish``).
RouteKind = Literal["request", "stream", "event"]


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of the handler map: this message type goes to this handler.

    Messages of a subclass of ``message_type`` without a route of their own
    reach it too (the nearest base class for requests, every class of the
    event's MRO for events).
    """

    #: The class the handler is routed under (one member of a union annotation).
    message_type: type
    #: ``"request"``, ``"stream"`` or ``"event"``.
    kind: RouteKind
    #: The handler: ``handler.name``, ``handler.location`` (``path:line``), ...
    handler: Handler
    #: The modifiers (middleware) wrapped around it, outermost first.
    modifiers: tuple[Modifier, ...] = ()


def routes_of(registry: HandlerRegistry) -> list[Route]:
    """``registry.routes()``: first resolves the annotations left for later, as dispatch does.

    Raises:
        UnresolvedAnnotationError: an annotation still names no class; the
            map would lie by leaving its handler out.
    """
    registry._resolve_pending()
    return routes_in(registry)


def routes_in(registry: HandlerRegistry) -> list[Route]:
    """The routes of ``registry`` as its tables are now (pending handlers left out).

    Message types come in the order they were first registered; under one
    type, a request's handler before its stream handler, and event handlers
    in the order they run.
    """
    with registry._lock:  # registration in another thread replaces the tables
        entries = list(registry._entries)
        tables = (registry._table, registry._stream_table)
        snapshot = [{tp: list(routed) for tp, routed in table.items()} for table in tables]
    order: dict[type, None] = {}
    for entry in entries:
        for tp in entry.handler.message_types:
            order.setdefault(tp)
    for table in snapshot:  # a type routed without a registered entry (`testing.override`)
        for tp in table:
            order.setdefault(tp)
    kinds: tuple[RouteKind, RouteKind] = ("request" if registry._unique else "event", "stream")
    routes: list[Route] = []
    for tp in order:
        for table, kind in zip(snapshot, kinds, strict=True):
            routes.extend(_route(tp, kind, entry) for entry in table.get(tp, ()))
    return routes


def _route(tp: type, kind: RouteKind, entry: HandlerEntry) -> Route:
    return Route(tp, kind, entry.handler, entry.modifiers)
