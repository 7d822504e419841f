"""`LocalEventBus`: every handler of an event, under a strategy that never loses an error."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._aggregate import EventPublisher
from ._chain import Call, Modifier, build_call, raise_later
from ._delivery import (
    Background,
    ErrorCallback,
    Route,
    Strategy,
    concurrent,
    log_failure,
    sequential,
)
from ._errors import MessageClassError
from ._handler import HandlerEntry
from ._inspect import check_strategy
from ._invoke import is_plain
from ._registry import EventHandlerRegistry
from ._routing import along_mro
from ._type_cache import TypeCache, new_cache, remember

if TYPE_CHECKING:
    from typing import Self

    from ._policies import Policy

__all__ = ["LocalEventBus", "Strategy"]


class LocalEventBus(EventHandlerRegistry, EventPublisher):
    """Publishes each event to every handler registered for its class or a base class.

    Handlers run in order: those of the event's own class first, then along
    its MRO; within a class, in registration order.  A handler failure never
    stops the others, and is never lost:

    - ``"sequential"`` (default): one handler after another; ``publish``
      raises `PublishError` at the end if any failed.
    - ``"concurrent"``: all handlers at once (at most ``max_concurrency`` of
      one publish at a time); same error reporting.
    - ``"background"``: ``publish`` returns once the handlers are scheduled;
      they run in the task group of ``async with bus:``, which waits for them
      on exit, and failures go to ``on_error(exception, handler, event)``
      (default: logged on the ``mediator`` logger).  With ``max_in_flight``,
      at most that many handlers of the bus run at once, and ``publish``
      waits for room.

    ``sync_mode=True`` (python-mediator) means ``"concurrent"``, and
    ``sync_mode=False`` means ``"background"``.
    """

    def __init__(
        self,
        policies: Sequence[Policy] | None = None,
        *,
        modifiers: Sequence[Modifier] | None = (),
        strategy: Strategy | None = None,
        max_concurrency: int | None = None,
        max_in_flight: int | None = None,
        on_error: ErrorCallback | None = None,
        sync_mode: bool | None = None,
    ) -> None:
        super().__init__(policies, modifiers=modifiers)
        chosen = check_strategy(
            f"{type(self).__name__}()",
            strategy,
            sync_mode=sync_mode,
            max_concurrency=max_concurrency,
            max_in_flight=max_in_flight,
            on_error=on_error,
        )
        self._strategy: Strategy = chosen
        self._max_concurrency = max_concurrency
        self._background = (
            Background(type(self).__name__, on_error or log_failure, max_in_flight)
            if chosen == "background"
            else None
        )
        self._calls: dict[HandlerEntry, Call] = {}
        # type(event) -> the delivery built for its handlers and the strategy.
        self._routes: TypeCache[Call] = new_cache()
        self._cache = self._routes[0]  # the hot path's dict

    @property
    def strategy(self) -> Strategy:
        """How handlers run: ``"sequential"``, ``"concurrent"`` or ``"background"``."""
        return self._strategy

    def publish(self, event: Any, /, **kwargs: Any) -> Coroutine[Any, Any, None]:
        """Deliver ``event`` to its handlers; await the result.

        Keyword arguments reach the handler parameters of the same name.
        Publishing an event nobody handles does nothing.

        Raises (when awaited):
            PublishError: one or more handlers failed (not in background mode),
                after every handler ran.
            BusStateError: background mode, outside ``async with bus:``.
        """
        # Not `async def`, like execute(): the delivery's coroutine is returned.
        try:
            return self._cache[type(event)](event, kwargs)  # type: ignore[return-value]
        except KeyError:
            pass  # not cached yet: built below, so routing errors do not chain this KeyError
        try:
            deliver = self._routes[1].get(type(event)) or self._delivery(type(event), event)
        except Exception as error:
            return raise_later(error)
        return deliver(event, kwargs)  # type: ignore[return-value]

    async def __aenter__(self) -> Self:
        """Open the task group of the background strategy (a no-op for the others)."""
        if self._background is not None:
            await self._background.enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        """Wait for the handlers still running in the background, then close the group."""
        if self._background is None:
            return None
        return await self._background.exit(exc_type, exc, traceback)

    # -- internals ------------------------------------------------------------

    def _accept(self, entries: Sequence[HandlerEntry]) -> None:
        calls = {
            entry: build_call(
                entry.handler, entry.modifiers, copy_kwargs=True, providers=self._providers
            )
            for entry in entries
        }
        self._calls.update(calls)

    def _routes_changed(self) -> None:
        self._routes = new_cache()
        self._cache = self._routes[0]

    def _delivery(self, tp: type, event: object) -> Call:
        """Build (once per concrete type) what publishing an event of type ``tp`` runs."""
        self._resolve_pending()
        cache = self._routes  # before the table: see HandlerRegistry._routes_changed
        if isinstance(event, type) and not any(
            cls in self._table for cls in tp.__mro__ if cls is not object
        ):
            # `publish(OrderPlaced)`: it would reach the `object` handlers only.
            raise MessageClassError(event, call="publish")
        routes = [self._route_of(entry) for entry in along_mro(tp, self._table)]
        deliver: Call
        if self._background is not None:
            deliver = self._background.deliverer(routes)
        elif self._strategy == "concurrent":
            deliver = concurrent(routes, self._max_concurrency)
        else:
            deliver = sequential(routes)
        return remember(cache, tp, deliver)

    def _route_of(self, entry: HandlerEntry) -> Route:
        if not entry.modifiers and is_plain(entry.handler):
            return (entry.handler.fn, False, entry.handler)
        return (self._calls[entry], True, entry.handler)
