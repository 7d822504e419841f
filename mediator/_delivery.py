"""How one event reaches its handlers: the three strategies behind ``publish``.

For each concrete event type the bus builds, once, the delivery `Call` that
suits its handlers and strategy (`sequential`, `concurrent`, or the bus's
`Background` task group); ``publish`` then only looks it up and calls it.
Whatever the strategy, every handler runs and no failure is lost: it is
raised in a `PublishError` once all handlers are done, handed to
``on_error`` in the background, or logged if the publish is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
import operator
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import anyio
from anyio.abc import TaskGroup

from ._errors import BusStateError, Failure, PublishError, add_note
from ._handler import Handler
from ._names import type_name

if TYPE_CHECKING:
    from ._chain import Call

__all__ = [
    "Background",
    "ErrorCallback",
    "Route",
    "Strategy",
    "concurrent",
    "log_failure",
    "sequential",
]

logger = logging.getLogger("mediator")

#: How to run one handler: ``run(event, kwargs)`` if the flag is set, else
#: ``run(event)`` (the handler function itself, when it takes no extras and
#: has no modifiers: one call frame less).
Route = tuple[Callable[..., Any], bool, Handler]

#: How `LocalEventBus` runs the handlers of one event.
Strategy = Literal["sequential", "concurrent", "background"]

#: ``on_error(exception, handler, event)``; may be a coroutine function.
ErrorCallback = Callable[[Exception, Handler, Any], Awaitable[None] | None]


def _start(route: Route, event: Any, kwargs: dict[str, Any]) -> Any:
    run, with_kwargs, _ = route
    return run(event, kwargs) if with_kwargs else run(event)


# -- sequential ---------------------------------------------------------------------------


def sequential(routes: Sequence[Route]) -> Call:
    """One handler after the other; every one runs, failures are raised together at the end."""
    if not routes:
        return _nothing
    if all(not with_kwargs for _, with_kwargs, _ in routes):
        functions = tuple(run for run, _, _ in routes)
        handlers = tuple(handler for _, _, handler in routes)
        if len(functions) == 1:
            return _one_plain(functions[0], handlers[0])
        return functools.partial(_each_plain, functions, handlers)
    return functools.partial(_each, tuple(routes))


async def _nothing(event: Any, kwargs: dict[str, Any]) -> None:
    return None


def _one_plain(function: Callable[[Any], Any], handler: Handler) -> Call:
    async def deliver(event: Any, kwargs: dict[str, Any]) -> None:
        try:
            await function(event)
            return
        except Exception as error:
            failure = Failure(handler, error)
        raise _publish_error(event, [failure], 1)  # outside `except`: no implicit chaining

    return deliver


async def _each_plain(
    functions: tuple[Callable[[Any], Any], ...],
    handlers: tuple[Handler, ...],
    event: Any,
    kwargs: dict[str, Any],
) -> None:
    failures: list[Failure] | None = None
    remaining = iter(functions)
    try:
        for function in remaining:
            try:
                await function(event)
            except Exception as error:
                if failures is None:
                    failures = []
                # Off the hot path: the position of this run, from the items left (a
                # function registered twice appears twice, so it is not `index(function)`).
                index = len(functions) - operator.length_hint(remaining) - 1
                failures.append(Failure(handlers[index], error))
    except BaseException:
        _log_abandoned(event, failures)
        raise
    if failures:
        raise _publish_error(event, failures, len(functions))


async def _each(routes: tuple[Route, ...], event: Any, kwargs: dict[str, Any]) -> None:
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


# -- concurrent ---------------------------------------------------------------------------


def concurrent(routes: Sequence[Route], max_concurrency: int | None) -> Call:
    """All handlers at once; failures are raised together when all are done.

    Inside one task group, each handler is started in the publisher's task
    and runs there until it first suspends; most handlers are done by then.
    The first one that suspends goes on in the publisher's task, and the
    handlers after it become tasks of the group.  It is the task group's
    behaviour (no handler outlives ``publish``, every error is collected,
    cancellation, shields and deadlines as usual) without a task per handler
    that does not suspend.
    """
    if not routes:
        return _nothing
    return functools.partial(_concurrently, tuple(routes), max_concurrency)


async def _concurrently(
    routes: tuple[Route, ...], limit: int | None, event: Any, kwargs: dict[str, Any]
) -> None:
    failures: dict[int, Failure] = {}
    try:
        # The group exists before any handler starts, so that the cancel scopes a
        # handler enters before it suspends nest inside the group's, and so that
        # the handlers after it are tasks of the group, under its cancel scope.
        # A single handler spawns none: it needs no group.
        async with anyio.create_task_group() if len(routes) > 1 else _NO_GROUP as group:
            suspended = _run_eagerly(routes, event, kwargs, failures)
            if suspended is not None:
                await _finish(routes, suspended, group, limit, event, kwargs, failures)
    except BaseException:
        _log_abandoned(event, [failures[index] for index in sorted(failures)])
        raise
    if failures:
        reported = [failures[index] for index in sorted(failures)]
        raise _publish_error(event, reported, len(routes))


_NO_GROUP: contextlib.nullcontext[None] = contextlib.nullcontext()

#: A handler that suspended during its eager start: its index, its coroutine,
#: what it yielded to the event loop, and the context it runs in.
_Suspended = tuple[int, Coroutine[Any, Any, Any], Any, contextvars.Context]

_coroutine_type = types.CoroutineType


def _run_eagerly(
    routes: tuple[Route, ...],
    event: Any,
    kwargs: dict[str, Any],
    failures: dict[int, Failure],
) -> _Suspended | None:
    """Run handlers in order until one suspends; return that one, or None if all finished."""
    copy_context = contextvars.copy_context
    for index, (run, with_kwargs, handler) in enumerate(routes):
        context = copy_context()  # each handler gets a copy, as a task would
        try:
            coroutine = run(event, kwargs) if with_kwargs else run(event)
            if type(coroutine) is not _coroutine_type:
                coroutine = _awaiting(coroutine)
            step = context.run(coroutine.send, None)
        except StopIteration:
            continue
        except Exception as error:
            failures[index] = Failure(handler, error)
            continue
        return index, coroutine, step, context
    return None


async def _finish(
    routes: tuple[Route, ...],
    suspended: _Suspended,
    group: TaskGroup | None,
    limit: int | None,
    event: Any,
    kwargs: dict[str, Any],
    failures: dict[int, Failure],
) -> None:
    """Start the handlers after the suspended one as tasks, and finish it in this task.

    The suspended handler stays in the publisher's task: it may have entered
    a cancel scope bound to it.
    """
    index, coroutine, step, context = suspended
    task = _current_asyncio_task()
    cancel_requests = task.cancelling() if task is not None else 0
    delivered: list[BaseException] = []
    later = range(index + 1, len(routes))
    limiter = anyio.CapacityLimiter(limit) if limit is not None and later else None
    borrower = object()
    if limiter is not None:
        limiter.acquire_on_behalf_of_nowait(borrower)
    for position in later:
        assert group is not None  # opened whenever there is more than one handler
        group.start_soon(_run_one, routes, position, event, kwargs, failures, limiter)
    try:
        await _resume(coroutine, step, context, delivered)
    except Exception as error:
        failures[index] = Failure(routes[index][2], error)
    finally:
        if limiter is not None:
            limiter.release_on_behalf_of(borrower)
    if delivered and task is not None and task.cancelling() > cancel_requests:
        # The handler caught an asyncio cancellation of the publisher's task, which
        # in a task of its own it could not have done: raise it again, so that the
        # group cancels the other handlers and whoever cancelled (a timeout) sees
        # it.  (One requested but not delivered yet comes at the next await.)
        raise delivered[-1]


def _current_asyncio_task() -> asyncio.Task[Any] | None:
    """The running asyncio task, or None under trio (or in an asyncio callback)."""
    loop = asyncio._get_running_loop()
    return None if loop is None else asyncio.current_task(loop)


async def _run_one(
    routes: tuple[Route, ...],
    index: int,
    event: Any,
    kwargs: dict[str, Any],
    failures: dict[int, Failure],
    limiter: anyio.CapacityLimiter | None,
) -> None:
    try:
        if limiter is None:
            await _start(routes[index], event, kwargs)
        else:
            async with limiter:
                await _start(routes[index], event, kwargs)
    except Exception as error:
        failures[index] = Failure(routes[index][2], error)


@types.coroutine
def _resume(
    coroutine: Coroutine[Any, Any, Any],
    step: Any,
    context: contextvars.Context,
    cancellations: list[BaseException],
) -> Generator[Any, Any, Any]:
    """Go on running a coroutine that was started by hand, in the task awaiting this.

    asyncio cancellations thrown into it are appended to ``cancellations``.
    """
    send, throw = coroutine.send, coroutine.throw
    while True:
        try:
            value = yield step
        except GeneratorExit:
            coroutine.close()
            raise
        except BaseException as error:  # cancellation, delivered by the event loop
            if isinstance(error, asyncio.CancelledError):
                cancellations.append(error)
            try:
                step = context.run(throw, error)
            except StopIteration as done:
                return done.value
        else:
            try:
                step = context.run(send, value)
            except StopIteration as done:
                return done.value


async def _awaiting(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


# -- background ---------------------------------------------------------------------------


def log_failure(exception: Exception, handler: Handler, event: Any) -> None:
    """The default ``on_error``: log the failure, with its traceback, on the ``mediator`` logger."""
    logger.error(
        "Event handler %s failed for %s",
        handler.described,
        type_name(type(event)),
        exc_info=(type(exception), exception, exception.__traceback__),
    )


class Background:
    """The task group of a ``strategy="background"`` bus, open inside ``async with bus:``.

    ``publish`` returns once the handlers are scheduled; leaving the block
    waits for them, also when it exits with an error (cancelling the block
    cancels them).  Failures go to ``on_error``.

    With ``max_in_flight``, at most that many handlers run at once and
    ``publish`` waits for room, so a producer cannot outrun its handlers
    without bound.  A handler publishing to its own bus does not wait: all
    handlers could be doing it at once, and none would ever make room.  Its
    events' handlers wait for room in their own tasks instead.
    """

    def __init__(self, owner: str, on_error: ErrorCallback, max_in_flight: int | None) -> None:
        self._owner = owner
        self._on_error = on_error
        self._max_in_flight = max_in_flight
        self._group: TaskGroup | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        #: Set in the tasks of this bus's handlers (each task has its own context).
        self._inside: contextvars.ContextVar[bool] = contextvars.ContextVar(
            f"inside {owner} background handler", default=False
        )

    async def enter(self) -> None:
        if self._group is not None:
            raise BusStateError("entered", owner=self._owner)
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        if self._max_in_flight is not None:
            self._limiter = anyio.CapacityLimiter(self._max_in_flight)

    async def exit(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        group = self._group
        if group is None:
            raise BusStateError("exit-without-enter", owner=self._owner)
        try:
            if exc_type is None or issubclass(exc_type, Exception):
                # An ordinary error in the block must not drop queued events:
                # drain them as on a clean exit, then let the error go on.
                await group.__aexit__(None, None, None)
                return None
            # Cancellation and the like: the handlers are cancelled with the block.
            return await group.__aexit__(exc_type, exc, traceback)
        finally:
            self._group = None
            self._limiter = None

    def deliverer(self, routes: Sequence[Route]) -> Call:
        return functools.partial(self._schedule, tuple(routes))

    async def _schedule(
        self, routes: tuple[Route, ...], event: Any, kwargs: dict[str, Any]
    ) -> None:
        group = self._group
        if group is None:
            raise BusStateError("not-entered", owner=self._owner)
        limiter = self._limiter
        if limiter is None or self._inside.get():
            for route in routes:
                group.start_soon(self._run, route, event, kwargs, None, name=route[2].name)
            return
        for route in routes:
            # The slot is taken here, in the publisher's task: that is the backpressure.
            slot = object()
            await limiter.acquire_on_behalf_of(slot)
            try:
                group.start_soon(self._run, route, event, kwargs, slot, name=route[2].name)
            except BaseException:
                limiter.release_on_behalf_of(slot)
                raise

    async def _run(
        self, route: Route, event: Any, kwargs: dict[str, Any], slot: object | None
    ) -> None:
        self._inside.set(True)
        limiter = self._limiter
        try:
            if limiter is None or slot is not None:
                await _start(route, event, kwargs)
            else:  # published by one of this bus's handlers: wait for room here
                async with limiter:
                    await _start(route, event, kwargs)
        except Exception as error:
            _note(error, route[2], event)
            await self._report(error, route[2], event)
        finally:
            if slot is not None and limiter is not None:
                limiter.release_on_behalf_of(slot)

    async def _report(self, error: Exception, handler: Handler, event: Any) -> None:
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
            )
            log_failure(error, handler, event)
        except BaseException:
            # Cancelled (the block is cancelled at shutdown) before it was done:
            # the failure may not have reached its destination, so it is logged.
            _log_unreported(error, handler, event, self._on_error)
            raise


# -- reporting ----------------------------------------------------------------------------


def _note(error: Exception, handler: Handler, event: Any) -> None:
    """Name the failing handler on the exception itself, for every traceback that shows it.

    Best effort: reporting a failure must never replace it.
    """
    add_note(error, f"raised by event handler {handler.described} for {type_name(type(event))}")


def _log_unreported(
    error: Exception, handler: Handler, event: Any, on_error: ErrorCallback
) -> None:
    logger.error(
        "Event handler %s failed for %s; on_error %r was cancelled while reporting it",
        handler.described,
        type_name(type(event)),
        on_error,
        exc_info=(type(error), error, error.__traceback__),
    )


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
