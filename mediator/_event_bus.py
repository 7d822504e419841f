"""`LocalEventBus`: every handler of an event, under a strategy that never loses an error."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, Literal

import anyio
from anyio.abc import TaskGroup

from ._delivery import Deliver, Route, concurrent, deliver_one, note, sequential
from ._errors import BusStateError
from ._handler import Handler
from ._modifiers import Modifier
from ._names import type_name
from ._pipeline import Runner, build_runner, raise_later
from ._policies import Policy
from ._registry import EventHandlerRegistry, HandlerEntry
from ._routing import along_mro

__all__ = ["ErrorCallback", "EventPublish", "EventPublisher", "LocalEventBus", "Strategy"]

logger = logging.getLogger("mediator")

Strategy = Literal["sequential", "concurrent", "background"]

#: ``on_error(exception, handler, event)``; may be a coroutine function.
ErrorCallback = Callable[[Exception, Handler, Any], Awaitable[None] | None]


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
        modifiers: Sequence[Modifier] = (),
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
        # type(event) -> the deliverer built for its handlers and the strategy.
        self._cache: dict[type, Deliver] = {}
        self._task_group: TaskGroup | None = None
        self._limiter: anyio.CapacityLimiter | None = None

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
        # Not `async def`, like execute(): the deliverer's coroutine is returned.
        try:
            return self._cache[type(event)](event, kwargs)
        except KeyError:
            pass  # not cached yet: built below, so routing errors do not chain this KeyError
        try:
            deliver = self._deliverer(type(event))
        except Exception as error:
            return raise_later(error)
        return deliver(event, kwargs)

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

    # -- background ---------------------------------------------------------------

    async def _publish_background(
        self, routes: tuple[Route, ...], event: Any, kwargs: dict[str, Any]
    ) -> None:
        task_group = self._task_group
        if task_group is None:
            raise BusStateError(
                "LocalEventBus(strategy='background') runs handlers in its own task group, which "
                "only exists inside `async with bus:`. Enter the bus around your application "
                "(`async with bus: ...`), or choose strategy='sequential' or 'concurrent' to "
                "publish without it"
            )
        for route in routes:
            task_group.start_soon(self._background, route, event, kwargs, name=route[2].name)

    async def _background(self, route: Route, event: Any, kwargs: dict[str, Any]) -> None:
        handler = route[2]
        try:
            await deliver_one(route, event, kwargs, self._limiter)
        except Exception as error:
            note(error, handler, event)
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

    def _deliverer(self, tp: type) -> Deliver:
        """Build (once per concrete type) what publishing an event of type ``tp`` runs."""
        self._resolve_pending()
        routes = tuple(
            _route(entry, self._runners[entry]) for entry in along_mro(tp, self._subscribers)
        )
        deliver: Deliver
        if self._strategy == "sequential":
            deliver = sequential(routes)
        elif self._strategy == "concurrent":
            deliver = concurrent(routes, self._max_concurrency)
        else:
            deliver = functools.partial(self._publish_background, routes)
        self._cache[tp] = deliver
        return deliver


def _route(entry: HandlerEntry, runner: Runner) -> Route:
    direct = None if entry.modifiers else entry.handler.direct
    if direct is not None:
        return (direct, False, entry.handler)
    return (runner, True, entry.handler)


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
