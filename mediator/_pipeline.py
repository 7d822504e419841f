"""What a bus runs for one handler: its invoker, or its modifier chain around it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ._errors import ModifierError
from ._handler import Handler
from ._modifiers import ActionCallType, ActionSubject, ModifierStack
from ._stream import Stream

__all__ = ["Runner", "build_runner"]

#: ``run(message, kwargs)`` -> the coroutine (or stream) of one handler call.
Runner = Callable[[Any, dict[str, Any]], Any]


def build_runner(handler: Handler, modifiers: tuple[Any, ...], *, own_kwargs: bool) -> Runner:
    """Compose the modifier stack once; with no modifiers, run the handler directly.

    ``own_kwargs`` gives every call of the chain its own copy of the keyword
    arguments, so a modifier editing ``action.inject`` for one event handler
    does not change what the next handler receives.
    """
    if not modifiers:
        return handler.invoke
    chain = ModifierStack.build(modifiers, handler.endpoint, target=handler)

    if handler.kind == "stream":

        def run_stream(message: Any, kwargs: dict[str, Any]) -> Stream[Any]:
            return Stream(start=lambda: _through(chain, handler, False, message, kwargs))

        return run_stream

    # partial, not a lambda: one Python frame less per call.
    return functools.partial(_through, chain, handler, own_kwargs)


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
