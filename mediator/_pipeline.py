"""What a bus runs for one handler: its invoker, or its modifier chain around it."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from ._errors import ModifierError
from ._handler import Handler
from ._invoke import boxing
from ._modifiers import (
    ActionCallType,
    ActionSubject,
    Middleware,
    ModifierStack,
    Next,
    is_factory,
)
from ._stream import Stream

__all__ = ["Runner", "build_runner", "raise_later"]

#: ``run(message, kwargs)`` -> the coroutine (or stream) of one handler call.
Runner = Callable[[Any, dict[str, Any]], Any]


def build_runner(handler: Handler, modifiers: tuple[Any, ...], *, own_kwargs: bool) -> Runner:
    """Compose the modifier stack once; with no modifiers, run the handler directly.

    Middleware functions pass ``(message, kwargs)`` along and get the plain
    result back; modifier factories work on ``ActionSubject``/``ActionResult``.
    A stack may mix them: the chain is built from the handler outwards, and an
    adapter is put in only where the two kinds meet.  ``own_kwargs`` gives each
    call of the chain its own copy of the keyword arguments, so that a modifier
    of one event handler cannot change what the next handler receives.
    """
    if not modifiers:
        return handler.invoke
    native: Next | None = _innermost(handler)
    chain: ActionCallType | None = None
    for index in range(len(modifiers) - 1, -1, -1):
        modifier = modifiers[index]
        if is_factory(modifier):
            if native is not None:
                chain = handler.endpoint if native is handler.invoke else boxing(native)
                native = None
            assert chain is not None
            chain = ModifierStack.build([modifier], chain, target=handler)
        else:
            if chain is not None:
                native = _named(functools.partial(_through, chain, handler, False), handler)
                chain = None
            assert native is not None
            native = _link(modifier, native, handler, copy=own_kwargs and index == 0)

    if chain is not None:
        # partial, not a lambda: one Python frame less per call.
        start: Runner = functools.partial(_through, chain, handler, own_kwargs)
    else:
        assert native is not None
        start = native
    if handler.kind == "stream":
        return lambda message, kwargs: Stream(start=lambda: start(message, kwargs))
    return start


def _innermost(handler: Handler) -> Next:
    """The handler as a middleware's ``call_next``: ``(message, kwargs)`` -> awaitable result."""
    if handler.kind == "stream":
        invoke = handler.invoke

        async def start_stream(message: Any, kwargs: dict[str, Any]) -> Any:
            return invoke(message, kwargs)

        return _named(start_stream, handler)
    return _named(handler.invoke, handler)


def _link(middleware: Middleware, call_next: Next, handler: Handler, *, copy: bool) -> Next:
    if copy:

        def link_copying(message: Any, kwargs: dict[str, Any]) -> Awaitable[Any]:
            return middleware(message, dict(kwargs), call_next)

        return _named(link_copying, handler)

    def link(message: Any, kwargs: dict[str, Any]) -> Awaitable[Any]:
        return middleware(message, kwargs, call_next)

    return _named(link, handler)


def _named(call: Any, handler: Handler) -> Next:
    call.handler = handler
    return call  # type: ignore[no-any-return]


async def _through(
    chain: ActionCallType, handler: Handler, copy: bool, message: Any, kwargs: dict[str, Any]
) -> Any:
    action: ActionSubject = _new(ActionSubject)  # skips the dataclass __init__ (hot path)
    action.subject = message
    action.inject = dict(kwargs) if copy else kwargs
    result = await chain(action)
    try:
        return result.result
    except AttributeError:
        raise ModifierError(
            f"The modifier stack of {handler.described} returned {result!r} instead of an "
            f"ActionResult: each modifier must return what `await call(action)` gave it, or a "
            f"new ActionResult(value)"
        ) from None


_new = object.__new__


async def raise_later(error: BaseException) -> NoReturn:
    """A coroutine that raises ``error``: errors of ``execute``/``publish`` surface when awaited,
    as they would from an ``async def``."""
    raise error
