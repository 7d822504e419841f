"""`LocalEventBus`: every handler of an event, under a strategy that never loses an error."""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, Literal

import anyio
from anyio.abc import TaskGroup

from ._errors import BusStateError, Failure, PublishError
from ._handler import Handler
from ._modifiers import ModifierFactory
from ._names import type_name
from ._pipeline import Runner, build_runner
from ._policies import Policy
from ._registry import EventHandlerRegistry, HandlerEntry
from ._routing import along_mro

__all__ = ["ErrorCallback", "EventPublish", "EventPublisher", "LocalEventBus", "Strategy"]

logger = logging.getLogger("mediator")

Strategy = Literal["sequential", "concurrent", "background"]

#: ``on_error(exception, handler, event)``; may be a coroutine function.
ErrorCallback = Callable[[Exception, Handler, Any], Awaitable[None] | None]

#: How publish calls one handler: ``run(event, kwargs)`` if the flag is set,
#: else ``run(event)`` (the handler function itself, when it takes no extras).
_Route = tuple[Callable[..., Any], bool, Handler]
_Routes = tuple[_Route, ...]


class EventPublish:
    """Anything that publishes events (python-mediator's interface)."""

    def publish(self, event: Any, /, **kwargs: Any) -> Coroutine[Any, Any, None]:
        raise NotImplementedError


class EventPublisher(EventPublish):
    """An `EventPublish` with a ``transaction()`` for `EventAggregate.commit`.

    The default transaction is a no-op that yields the publisher itself;
    override it to publish a batch atomically (for example into an outbox).
    """

    def transaction(self) -> contextlib.AbstractAsyncContextManager[EventPublish]:
        return contextlib.nullcontext(self)


def log_failure(exception: Exception, handler: Handler, event: Any) -> None:
    """The default ``on_error``: log the failure, with its traceback, on the ``mediator`` logger."""
    logger.error(
        "Event handler %s failed for %s",
        handler.described,
        type_name(type(event)),
        exc_info=(type(exception), exception, exception.__traceback__),
    )


class LocalEventBus(EventHandlerRegistry, EventPublisher):
    """Publishes each event to every handler registered for its class or a base class.

    Handlers run in order: those of the event's own class first, then along
    its MRO; within a class, in registration order. A handler failure never
    stops the others, and is never lost:

    - ``"sequential"`` (default): one handler after another; ``publish``
      raises `PublishError` at the end if any failed.
    - ``"concurrent"``: all handlers at once in an anyio task group (at most
      ``max_concurrency`` at a time); same error reporting.
    - ``"background"``: ``publish`` returns at once; handlers run in the task
      group of ``async with bus:``, which waits for them on exit, and failures
      go to ``on_error(exception, handler, event)`` (default: logged on the
      ``mediator`` logger).

    ``sync_mode=True`` (python-mediator) means ``"concurrent"``, and
    ``sync_mode=False`` means ``"background"``.
    """

    def __init__(
        self,
        policies: Sequence[Policy] | None = None,
        *,
        modifiers: Sequence[ModifierFactory] = (),
        strategy: Strategy | None = None,
        max_concurrency: int | None = None,
        on_error: ErrorCallback | None = None,
        sync_mode: bool | None = None,
    ) -> None:
        super().__init__(policies, modifiers=modifiers)
        self._strategy: Strategy = _strategy(strategy, sync_mode)
        if max_concurrency is not None:
            if self._strategy == "sequential":
                raise ValueError(
                    "LocalEventBus(max_concurrency=...) limits the 'concurrent' and 'background' "
                    "strategies; the 'sequential' strategy runs one handler at a time already"
                )
            limit: object = max_concurrency
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ValueError(
                    f"LocalEventBus(max_concurrency=...) must be a positive int or None, got "
                    f"{max_concurrency!r}"
                )
        if on_error is not None:
            if self._strategy != "background":
                raise ValueError(
                    f"LocalEventBus(on_error=...) receives the failures of the 'background' "
                    f"strategy; with {self._strategy!r}, publish() raises PublishError instead"
                )
            if not callable(on_error):
                raise TypeError(f"LocalEventBus(on_error=...) must be callable, got {on_error!r}")
        self._max_concurrency = max_concurrency
        self._on_error: ErrorCallback = on_error or log_failure
        self._runners: dict[HandlerEntry, Runner] = {}
        # type(event) -> (runner, handler) pairs along its MRO.
        self._cache: dict[type, _Routes] = {}
        self._task_group: TaskGroup | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        # None for "sequential", which publish() runs inline (the common, fastest path).
        self._delegate: Callable[[Any, dict[str, Any]], Coroutine[Any, Any, None]] | None = {
            "sequential": None,
            "concurrent": self._publish_concurrent,
            "background": self._publish_background,
        }[self._strategy]

    @property
    def strategy(self) -> Strategy:
        """How handlers run: ``"sequential"``, ``"concurrent"`` or ``"background"``."""
        return self._strategy

    async def publish(self, event: Any, /, **kwargs: Any) -> None:
        """Deliver ``event`` to its handlers.

        Keyword arguments reach the handler parameters of the same name.
        Publishing an event nobody handles does nothing.

        Raises:
            PublishError: one or more handlers failed (not in background mode),
                after every handler ran.
            BusStateError: background mode, outside ``async with bus:``.
        """
        if self._delegate is not None:
            await self._delegate(event, kwargs)
            return
        try:
            routes = self._cache[type(event)]
        except KeyError:
            routes = None  # routed below: a routing error must not chain this KeyError
        if routes is None:
            routes = self._routes(type(event))  # routed here, outside the except block
        failures: list[Failure] | None = None
        try:
            for run, with_kwargs, handler in routes:
                try:
                    if with_kwargs:
                        await run(event, kwargs)
                    else:
                        await run(event)
                except Exception as error:
                    if failures is None:
                        failures = []
                    failures.append(Failure(handler, error))
        except BaseException:
            _log_abandoned(event, failures)
            raise
        if failures:
            raise _publish_error(event, failures, len(routes))

    # -- the background task group ----------------------------------------------

    async def __aenter__(self) -> LocalEventBus:
        if self._task_group is not None:
            raise BusStateError(
                "This LocalEventBus is already entered (`async with bus:`); enter it once, "
                "around the whole application"
            )
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        if self._max_concurrency is not None:
            self._limiter = anyio.CapacityLimiter(self._max_concurrency)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        task_group = self._task_group
        if task_group is None:
            raise BusStateError("This LocalEventBus was not entered")
        try:
            if exc_type is None or issubclass(exc_type, Exception):
                # An ordinary error in the block must not drop queued events:
                # drain them as on a clean exit, then let the error go on.
                await task_group.__aexit__(None, None, None)
                return None
            # Cancellation and the like: the handlers are cancelled with the block.
            return await task_group.__aexit__(exc_type, exc, traceback)
        finally:
            self._task_group = None
            self._limiter = None

    # -- strategies -------------------------------------------------------------

    async def _publish_concurrent(self, event: Any, kwargs: dict[str, Any]) -> None:
        routes = self._routes(type(event))
        outcomes: list[Failure | None] = [None] * len(routes)
        limiter = (
            anyio.CapacityLimiter(self._max_concurrency)
            if self._max_concurrency is not None and len(routes) > 1
            else None
        )

        async def run_one(index: int) -> None:
            try:
                await _deliver(routes[index], event, kwargs, limiter)
            except Exception as error:
                outcomes[index] = Failure(routes[index][2], error)

        try:
            if len(routes) == 1:
                await run_one(0)
            elif routes:
                async with anyio.create_task_group() as task_group:
                    for index, route in enumerate(routes):
                        task_group.start_soon(run_one, index, name=route[2].name)
        except BaseException:
            _log_abandoned(event, [f for f in outcomes if f is not None])
            raise
        failures = [f for f in outcomes if f is not None]
        if failures:
            raise _publish_error(event, failures, len(routes))

    async def _publish_background(self, event: Any, kwargs: dict[str, Any]) -> None:
        task_group = self._task_group
        if task_group is None:
            raise BusStateError(
                "LocalEventBus(strategy='background') runs handlers in its own task group, which "
                "only exists inside `async with bus:`. Enter the bus around your application "
                "(`async with bus: ...`), or choose strategy='sequential' or 'concurrent' to "
                "publish without it"
            )
        routes = self._routes(type(event))
        for route in routes:
            task_group.start_soon(self._background, route, event, kwargs, name=route[2].name)

    async def _background(self, route: _Route, event: Any, kwargs: dict[str, Any]) -> None:
        handler = route[2]
        try:
            await _deliver(route, event, kwargs, self._limiter)
        except Exception as error:
            _note(error, handler, event)
            try:
                outcome = self._on_error(error, handler, event)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                logger.exception(
                    "on_error callback %r failed while reporting this failure of %s for %s",
                    self._on_error,
                    handler.described,
                    type_name(type(event)),
                    exc_info=True,
                )
                log_failure(error, handler, event)

    # -- routing ----------------------------------------------------------------

    def _place(self, entries: list[HandlerEntry]) -> None:
        for entry in entries:
            if entry not in self._runners:
                self._runners[entry] = build_runner(entry.handler, entry.modifiers, own_kwargs=True)
        super()._place(entries)

    def _changed(self) -> None:
        self._cache.clear()

    def _routes(self, tp: type) -> _Routes:
        """The (cached) routes of a concrete event type."""
        routes = self._cache.get(tp)
        if routes is not None:
            return routes
        self._resolve_pending()
        routes = tuple(
            _route(entry, self._runners[entry]) for entry in along_mro(tp, self._subscribers)
        )
        self._cache[tp] = routes
        return routes


def _route(entry: HandlerEntry, runner: Runner) -> _Route:
    direct = None if entry.modifiers else entry.handler.direct
    if direct is not None:
        return (direct, False, entry.handler)
    return (runner, True, entry.handler)


async def _deliver(
    route: _Route, event: Any, kwargs: dict[str, Any], limiter: anyio.CapacityLimiter | None
) -> None:
    run, with_kwargs, _ = route
    if limiter is None:
        await (run(event, kwargs) if with_kwargs else run(event))
    else:
        async with limiter:
            await (run(event, kwargs) if with_kwargs else run(event))


def _strategy(strategy: Strategy | None, sync_mode: bool | None) -> Strategy:
    if sync_mode is not None:
        if strategy is not None:
            raise ValueError(
                "LocalEventBus takes strategy= or the older sync_mode=, not both; use strategy="
            )
        return "concurrent" if sync_mode else "background"
    if strategy is None:
        return "sequential"
    if strategy not in ("sequential", "concurrent", "background"):
        raise ValueError(
            f"LocalEventBus(strategy={strategy!r}): the strategy must be 'sequential', "
            f"'concurrent' or 'background'"
        )
    return strategy


def _note(error: Exception, handler: Handler, event: Any) -> None:
    error.add_note(f"raised by event handler {handler.described} for {type_name(type(event))}")


def _publish_error(event: Any, failures: list[Failure], handlers: int) -> PublishError:
    for failure in failures:
        _note(failure.exception, failure.handler, event)
    return PublishError.from_failures(event, failures, handlers)


def _log_abandoned(event: Any, failures: Sequence[Failure] | None) -> None:
    """A publish ended by cancellation cannot raise its handler errors: log them instead."""
    for failure in failures or ():
        _note(failure.exception, failure.handler, event)
        logger.error(
            "Event handler %s failed for %s before the publish was cancelled",
            failure.handler.described,
            type_name(type(event)),
            exc_info=(type(failure.exception), failure.exception, failure.exception.__traceback__),
        )
