"""How one event reaches its handlers: the coroutine functions behind ``publish``.

For each concrete event type the bus builds, once, the deliverer that suits
its handlers and strategy (no handlers, one plain handler, several, ...);
``publish`` then only looks it up and calls it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import anyio

from ._errors import Failure, PublishError
from ._handler import Handler
from ._names import type_name

__all__ = ["Deliver", "Route", "concurrent", "deliver_one", "note", "sequential"]

logger = logging.getLogger("mediator")

#: How to call one handler: ``run(event, kwargs)`` if the flag is set, else
#: ``run(event)`` (the handler function itself, when it takes no extras).
Route = tuple[Callable[..., Any], bool, Handler]

#: ``deliver(event, kwargs)`` -> the coroutine that delivers one event.
Deliver = Callable[[Any, dict[str, Any]], Coroutine[Any, Any, None]]


def sequential(routes: Sequence[Route]) -> Deliver:
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


def concurrent(routes: Sequence[Route], max_concurrency: int | None) -> Deliver:
    """All handlers at once in a task group; failures are raised together at the end."""
    if len(routes) < 2:
        return sequential(routes)
    return functools.partial(_concurrently, tuple(routes), max_concurrency)


async def deliver_one(
    route: Route, event: Any, kwargs: dict[str, Any], limiter: anyio.CapacityLimiter | None
) -> None:
    """Run one handler, under ``limiter`` if given."""
    run, with_kwargs, _ = route
    if limiter is None:
        await (run(event, kwargs) if with_kwargs else run(event))
    else:
        async with limiter:
            await (run(event, kwargs) if with_kwargs else run(event))


def note(error: Exception, handler: Handler, event: Any) -> None:
    """Name the failing handler on the exception itself, for every traceback that shows it."""
    error.add_note(f"raised by event handler {handler.described} for {type_name(type(event))}")


async def _nothing(event: Any, kwargs: dict[str, Any]) -> None:
    return None


def _one_plain(function: Callable[[Any], Any], handler: Handler) -> Deliver:
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
    try:
        for function in functions:
            try:
                await function(event)
            except Exception as error:
                if failures is None:
                    failures = []
                # Off the hot path: find the handler only when it failed.
                failures.append(Failure(handlers[functions.index(function)], error))
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


async def _concurrently(
    routes: tuple[Route, ...], max_concurrency: int | None, event: Any, kwargs: dict[str, Any]
) -> None:
    outcomes: list[Failure | None] = [None] * len(routes)
    limiter = anyio.CapacityLimiter(max_concurrency) if max_concurrency is not None else None

    async def run_one(index: int) -> None:
        try:
            await deliver_one(routes[index], event, kwargs, limiter)
        except Exception as error:
            outcomes[index] = Failure(routes[index][2], error)

    try:
        async with anyio.create_task_group() as task_group:
            for index, route in enumerate(routes):
                task_group.start_soon(run_one, index, name=route[2].name)
    except BaseException:
        _log_abandoned(event, [f for f in outcomes if f is not None])
        raise
    failures = [f for f in outcomes if f is not None]
    if failures:
        raise _publish_error(event, failures, len(routes))


def _publish_error(event: Any, failures: list[Failure], handlers: int) -> PublishError:
    for failure in failures:
        note(failure.exception, failure.handler, event)
    return PublishError.from_failures(event, failures, handlers)


def _log_abandoned(event: Any, failures: Sequence[Failure] | None) -> None:
    """A publish ended by cancellation cannot raise its handler errors: log them instead."""
    for failure in failures or ():
        note(failure.exception, failure.handler, event)
        logger.error(
            "Event handler %s failed for %s before the publish was cancelled",
            failure.handler.described,
            type_name(type(event)),
            exc_info=(type(failure.exception), failure.exception, failure.exception.__traceback__),
        )
