"""Modifiers: the middleware model inherited from python-mediator.

A modifier factory wraps an *action call* (``async (ActionSubject) ->
ActionResult``) in another one.  The stack for each handler is built once, when
the handler is added to a bus; a call only runs the prebuilt chain.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ._errors import ModifierError
from ._names import callable_name

if TYPE_CHECKING:
    from ._handler import Handler

__all__ = [
    "ActionCallType",
    "ActionResult",
    "ActionSubject",
    "Middleware",
    "Modifier",
    "ModifierFactory",
    "ModifierStack",
    "Next",
]


@dataclass(slots=True)
class ActionSubject:
    """What a modifier sees of a call: the message and the extra keyword arguments.

    A modifier may replace ``subject`` or edit ``inject`` before calling on;
    the handler receives whatever reaches the end of the chain.  Each handler
    of an event gets its own ``ActionSubject`` (and its own ``inject`` dict).
    """

    subject: Any
    inject: dict[str, Any]

    @property
    def key(self) -> type:
        """The message type, as python-mediator exposed it."""
        return type(self.subject)


@dataclass(slots=True)
class ActionResult:
    """The handler's return value as it travels back up the modifier chain.

    For a stream handler ``result`` is the async iterator of its items, which
    a modifier may wrap.
    """

    result: Any


ActionCallType = Callable[[ActionSubject], Awaitable[ActionResult]]


class ModifierFactory(Protocol):
    """Makes the modifier that wraps one handler's call.

    Subclass it (as in python-mediator) or write any object with this method::

        class Timing(ModifierFactory):
            def create(self, call, **kwargs):
                async def timed(action):
                    started = time.perf_counter()
                    try:
                        return await call(action)
                    finally:
                        print(type(action.subject).__name__, time.perf_counter() - started)
                return timed

    ``create`` runs once per handler, when the handler is added to a bus; its
    keyword arguments carry ``target``: the handler at the end of the stack
    (a `mediator.Handler`, with ``name``, ``location``, ``message_types``).
    """

    def create(self, call: ActionCallType, /, **kwargs: Any) -> ActionCallType: ...


class Next(Protocol):
    """What a middleware calls to go on: the next middleware, or the handler itself.

    ``await call_next(message, kwargs)`` returns the handler's result (for a
    stream handler: the async iterator of its items); ``call_next.handler`` is
    the `mediator.Handler` at the end of the chain.
    """

    @property
    def handler(self) -> Handler: ...

    def __call__(self, message: Any, kwargs: dict[str, Any], /) -> Awaitable[Any]: ...


#: A middleware function: ``async def middleware(message, kwargs, call_next)``.
#: It returns the result, usually ``await call_next(message, kwargs)``; to change
#: the keyword arguments, pass a new dict rather than editing ``kwargs``.
Middleware = Callable[[Any, dict[str, Any], Next], Awaitable[Any]]

#: What ``modifiers=`` takes: middleware functions and modifier factories, mixed.
Modifier = ModifierFactory | Middleware


class ModifierStack:
    """Builds modifier chains."""

    @classmethod
    def build(
        cls,
        factories: Sequence[ModifierFactory],
        call: ActionCallType,
        *,
        target: Any = None,
    ) -> ActionCallType:
        """Wrap ``call``; ``factories[0]`` ends up outermost: ``[A, B]`` runs A -> B -> call.

        Each factory gets ``target=`` (default: ``call`` itself).
        """
        if target is None:
            target = call
        for factory in reversed(factories):
            wrapped = factory.create(call, target=target)
            if not callable(wrapped):
                raise ModifierError(
                    f"{callable_name(type(factory))}.create() returned {wrapped!r} instead of an "
                    f"async callable; create(call, **kwargs) must return the function that wraps "
                    f"`call`"
                )
            call = wrapped
        return call


def is_factory(modifier: object) -> bool:
    """A python-mediator style modifier factory (as opposed to a middleware function)."""
    return not isinstance(modifier, type) and callable(getattr(modifier, "create", None))


def check_modifiers(modifiers: object, where: str) -> tuple[Modifier, ...]:
    """Validate a ``modifiers=`` argument up front, so a mistake fails at the line that made it."""
    if isinstance(modifiers, (str, bytes)) or not isinstance(modifiers, Sequence):
        raise ModifierError(
            f"{where}: modifiers must be a sequence (list or tuple) of middleware functions or "
            f"ModifierFactory objects, got {modifiers!r}"
        )
    for modifier in modifiers:
        if is_factory(modifier):
            continue
        if isinstance(modifier, type):
            raise ModifierError(
                f"{where}: {callable_name(modifier)} is a class; pass an instance of it "
                f"(modifiers=[{modifier.__name__}(...)])"
            )
        problem = _middleware_problem(modifier)
        if problem:
            raise ModifierError(
                f"{where}: {modifier!r} {problem}. A modifier is a middleware function "
                f"`async def middleware(message, kwargs, call_next)` or an object with a "
                f"create(call, **kwargs) method (ModifierFactory)"
            )
    return tuple(modifiers)


def _middleware_problem(modifier: object) -> str | None:
    if not callable(modifier):
        return "is neither callable nor has a create() method"
    own_call = getattr(type(modifier), "__call__", None)  # noqa: B004 - an async __call__
    if not (inspect.iscoroutinefunction(modifier) or inspect.iscoroutinefunction(own_call)):
        return "is not an async function"
    try:
        inspect.signature(modifier).bind(None, None, None)
    except TypeError:
        return "cannot be called with (message, kwargs, call_next)"
    except ValueError:  # pragma: no cover - builtins without a signature
        return None
    return None
