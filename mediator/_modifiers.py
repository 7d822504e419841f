"""Modifiers: the middleware model inherited from python-mediator.

A modifier factory wraps an *action call* (``async (ActionSubject) ->
ActionResult``) in another one.  The stack for each handler is built once, when
the handler is added to a bus; a call only runs the prebuilt chain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._errors import ModifierError
from ._names import callable_name

__all__ = [
    "ActionCallType",
    "ActionResult",
    "ActionSubject",
    "ModifierFactory",
    "ModifierStack",
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


def check_modifiers(modifiers: object, where: str) -> tuple[ModifierFactory, ...]:
    """Validate a ``modifiers=`` argument up front, so a typo fails at the line that made it."""
    if isinstance(modifiers, (str, bytes)) or not isinstance(modifiers, Sequence):
        raise ModifierError(
            f"{where}: modifiers must be a sequence (list or tuple) of ModifierFactory objects, "
            f"got {modifiers!r}"
        )
    for modifier in modifiers:
        if isinstance(modifier, type) or not callable(getattr(modifier, "create", None)):
            hint = " (pass an instance, not the class)" if isinstance(modifier, type) else ""
            raise ModifierError(
                f"{where}: {modifier!r} is not a modifier factory{hint}; a modifier is an object "
                f"with a create(call, **kwargs) method that returns the wrapping call"
            )
    return tuple(modifiers)
