"""Compiling a handler's call from its record, once per handler.

`compile_call` picks the cheapest correct way to bind a call's keyword
arguments to the handler's parameters, without ``inspect`` (the record says
how), and returns a `Call` that hands back the handler's own coroutine, so a
dispatch adds no coroutine frame of its own.  Argument errors are raised at
once, before any handler code runs, and explained by `explain_argument_error`
on that slow path only.
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, Final

import anyio.to_thread

from ._errors import HandlerArgumentError, MissingArgumentError
from ._handler import Handler

if TYPE_CHECKING:
    from ._chain import Call

__all__ = [
    "compile_call",
    "compile_missing_check",
    "compile_opener",
    "explain_argument_error",
    "is_plain",
]

#: ``open(message, kwargs)`` -> the async iterator of a stream handler, started.
Opener = Callable[[Any, dict[str, Any]], AsyncIterator[Any]]

_NO_KWARGS: Final[dict[str, Any]] = {}


def is_plain(handler: Handler) -> bool:
    """True if ``handler.fn(message)`` is the whole call: the bus may call ``fn`` directly."""
    return handler.kind == "async" and not (
        handler.message_by_keyword or handler.injectable or handler.var_keyword
    )


def compile_call(handler: Handler) -> Call:
    """``call(message, kwargs)``; for a stream handler it resolves to the iterator."""
    if handler.kind == "stream":
        open_ = compile_opener(handler)

        async def start_stream(message: Any, kwargs: dict[str, Any]) -> Any:
            return open_(message, kwargs)

        return start_stream
    if handler.kind in ("sync", "thread"):
        pick = _picker(handler)
        run = _in_thread if handler.kind == "thread" else _inline

        def call_sync(message: Any, given: dict[str, Any]) -> Any:
            kwargs = pick(given) if (pick is not None and given) else _NO_KWARGS
            return run(handler, message, kwargs, given)

        return call_sync
    return _binder(handler)


def compile_opener(handler: Handler) -> Opener:
    """Start a stream handler: calling an async generator function only binds its arguments."""
    return _binder(handler)


def compile_missing_check(
    handler: Handler, provided: Collection[str] = (), *, before_chain: bool = True
) -> Callable[[dict[str, Any]], None] | None:
    """``check(kwargs)``: raise `MissingArgumentError` if a required parameter is not given.

    What ``bus.stream()`` runs before a stream handler's middleware chain, so
    that a missing argument is raised there rather than at the first item.  A
    parameter counts as given if ``kwargs`` has it under its own name or a name
    ``arg_map`` renames to it, or if it is among ``provided`` (the names
    middleware declare they add, and the providers').  ``before_chain``: the
    check runs before the middleware, and the error says how a middleware
    declares what it adds.  None if no parameter can be missing.
    """
    needs: list[tuple[str, frozenset[str]]] = []
    for parameter in handler.required:
        sources = (source for source, target in handler.arg_map.items() if target == parameter)
        names = frozenset({parameter, *sources})
        if names.isdisjoint(provided):
            needs.append((parameter, names))
    if not needs:
        return None
    renamed = {target: source for source, target in handler.arg_map.items()}

    def check(kwargs: dict[str, Any]) -> None:
        for _, names in needs:
            if names.isdisjoint(kwargs):
                missing = [renamed.get(p, p) for p, n in needs if n.isdisjoint(kwargs)]
                error = MissingArgumentError(handler, parameters=missing, given=tuple(kwargs))
                if not before_chain:
                    raise error
                error.add_note(
                    "bus.stream() checks this before the handler's middleware run: a "
                    "middleware that adds it says so with @around(provides=["
                    + ", ".join(repr(name) for name in missing)
                    + "])"
                )
                raise error

    return check


def _binder(handler: Handler) -> Callable[[Any, dict[str, Any]], Any]:
    """``bind(message, kwargs)`` -> ``fn(message, ...)``: the coroutine or async iterator."""
    fn = handler.fn
    # Calling an async (generator) function only binds its arguments: its body
    # has not run, so a TypeError here is an argument error to explain.
    if handler.message_by_keyword or handler.arg_map or handler.var_keyword or handler.arg_strict:
        return _general(handler)
    accepts = frozenset(handler.injectable)
    if not accepts:
        return lambda message, kwargs: fn(message)

    def by_name(message: Any, kwargs: dict[str, Any]) -> Any:
        picked = kwargs
        if not kwargs.keys() <= accepts:
            picked = {k: v for k, v in kwargs.items() if k in accepts}
        try:
            return fn(message, **picked)
        except TypeError:
            explain_argument_error(handler, picked, kwargs)
            raise

    if not handler.positional:
        return by_name

    # The call usually passes exactly the handler's extra parameters: then they
    # go positionally, which is much cheaper than unpacking a dict.
    count = len(handler.injectable)
    take = operator.itemgetter(*handler.injectable)

    if count == 1:

        def by_position_one(message: Any, kwargs: dict[str, Any]) -> Any:
            if len(kwargs) == 1:
                try:
                    value = take(kwargs)
                except KeyError:
                    pass
                else:
                    return fn(message, value)
            return by_name(message, kwargs)

        return by_position_one

    def by_position(message: Any, kwargs: dict[str, Any]) -> Any:
        if len(kwargs) == count:
            try:
                values = take(kwargs)
            except KeyError:
                pass
            else:
                return fn(message, *values)
        return by_name(message, kwargs)

    return by_position


def _general(handler: Handler) -> Callable[[Any, dict[str, Any]], Any]:
    fn = handler.fn
    pick = _picker(handler)
    name = handler.message_parameter
    by_keyword = handler.message_by_keyword

    def bind(message: Any, given: dict[str, Any]) -> Any:
        kwargs = pick(given) if (pick is not None and given) else _NO_KWARGS
        try:
            if by_keyword:
                return fn(**kwargs, **{name: message})
            return fn(message, **kwargs)
        except TypeError:
            explain_argument_error(handler, kwargs, given)
            raise

    return bind


def _picker(handler: Handler) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """Turns a call's kwargs into the handler's, or is None if the handler takes none."""
    arg_map = dict(handler.arg_map)  # a copy: the compiled call cannot change
    if handler.var_keyword or handler.arg_strict:
        if arg_map:
            return lambda kwargs: {arg_map.get(k, k): v for k, v in kwargs.items()}
        return lambda kwargs: kwargs
    accepts = frozenset(handler.injectable)
    if not accepts:
        return None
    if arg_map:
        return lambda kwargs: {
            name: v for k, v in kwargs.items() if (name := arg_map.get(k, k)) in accepts
        }
    return lambda kwargs: {k: v for k, v in kwargs.items() if k in accepts}


def explain_argument_error(
    handler: Handler, kwargs: Mapping[str, Any], given: Mapping[str, Any] | None = None
) -> None:
    """Raise a `HandlerArgumentError` if ``kwargs`` cannot bind to the handler; else return.

    ``given`` is what the call passed, before renaming and filtering.  Only
    called after starting the handler raised ``TypeError``: it costs nothing
    on calls that succeed.
    """
    received = tuple(kwargs if given is None else given)
    missing = [name for name in handler.required if name not in kwargs]
    if missing:
        renamed = {target: source for source, target in handler.arg_map.items()}
        raise MissingArgumentError(
            handler, parameters=[renamed.get(name, name) for name in missing], given=received
        )
    try:
        signature = inspect.signature(handler.fn)
    except (TypeError, ValueError):  # pragma: no cover - inspected fine at registration
        return
    arguments = dict(kwargs)
    args: tuple[Any, ...] = (None,)
    if handler.message_by_keyword:
        if handler.message_parameter in arguments:
            raise HandlerArgumentError(handler, "message-keyword", given=received)
        arguments[handler.message_parameter] = None
        args = ()
    try:
        signature.bind(*args, **arguments)
    except TypeError as error:
        raise HandlerArgumentError(
            handler, "unexpected", given=received, detail=str(error)
        ) from None


def _bound(handler: Handler, message: Any, kwargs: dict[str, Any]) -> Callable[[], Any]:
    if handler.message_by_keyword:
        return functools.partial(handler.fn, **kwargs, **{handler.message_parameter: message})
    return functools.partial(handler.fn, message, **kwargs)


async def _inline(
    handler: Handler, message: Any, kwargs: dict[str, Any], given: dict[str, Any]
) -> Any:
    call = _bound(handler, message, kwargs)
    try:
        result = call()
    except TypeError:
        # The body may have raised it: explain only if binding is the cause.
        explain_argument_error(handler, kwargs, given)
        raise
    if inspect.iscoroutine(result):  # a sync decorator around an async handler
        return await result
    return result


async def _in_thread(
    handler: Handler, message: Any, kwargs: dict[str, Any], given: dict[str, Any]
) -> Any:
    # anyio copies the caller's contextvars into the worker thread.
    call = _bound(handler, message, kwargs)
    try:
        # Boxed: trio refuses a thread function that returns a coroutine.
        (result,) = await anyio.to_thread.run_sync(
            _boxed, call, abandon_on_cancel=handler.abandon_on_cancel
        )
    except TypeError:
        explain_argument_error(handler, kwargs, given)
        raise
    if inspect.iscoroutine(result):
        # A sync wrapper around an async function: the thread only created the
        # coroutine, which must run here, in the event loop, as it does inline.
        return await result
    return result


def _boxed(call: Callable[[], Any]) -> tuple[Any]:
    return (call(),)
