"""`Handler`, the immutable record of one registered handler, and `HandlerEntry`.

`mediator._inspect` reads a callable once and produces it; `mediator._invoke`
compiles the call from it; the buses route by its ``message_types``.  It holds
no compiled callables, so it is the same plain value in a registry, in an
error and in a middleware's ``call_next.handler``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ._names import source_location, type_name

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sequence

    from ._annotations import Unresolved
    from ._chain import Modifier
    from ._legacy import ActionResult, ActionSubject

__all__ = ["Handler", "HandlerEntry", "HandlerKind"]

#: How the bus calls a handler (`Handler.kind`): ``"async"`` (``async def``),
#: ``"sync"`` (a plain ``def``, run inline), ``"thread"`` (a plain ``def`` run in
#: a worker thread, ``register(fn, thread=True)``) or ``"stream"`` (an
#: ``async def`` that yields, run by ``bus.stream()``).
HandlerKind = Literal["async", "sync", "thread", "stream"]


@dataclass(frozen=True, eq=False, repr=False, slots=True, weakref_slot=True)
class Handler:
    """A registered handler, as the bus sees it.

    It is what ``PublishError.failures``, ``on_error``, a middleware's
    ``call_next.handler`` and a modifier factory's ``target`` receive.
    """

    #: What was registered: the function, or the object a policy found ``fn`` in.
    obj: Any
    #: What the bus calls.
    fn: Callable[..., Any]
    #: How the bus calls ``fn``: ``"async"``, ``"sync"`` (inline), ``"thread"``
    #: (in a worker thread) or ``"stream"`` (an async generator, run by
    #: ``bus.stream()``).  A middleware tells a stream call apart by
    #: ``call_next.handler.kind == "stream"``: ``await call_next(...)`` then gives
    #: the async iterator of the items, before any item is produced.  The three
    #: others give the handler's result.
    kind: HandlerKind
    #: ``module.QualName`` of ``fn``.
    name: str
    #: The parameter that receives the message, and whether it is passed by keyword.
    message_parameter: str
    message_by_keyword: bool
    #: The annotation of the message parameter, as written.
    annotation: Any
    #: The classes the annotation stands for (empty while it is unresolved).
    message_types: tuple[type, ...]
    #: Parameters the call's keyword arguments can fill, in signature order.
    injectable: tuple[str, ...]
    #: Those of them without a default.
    required: tuple[str, ...]
    #: True if ``fn`` takes ``**kwargs``: it then gets every keyword argument.
    var_keyword: bool
    #: True if the injectable parameters directly follow the message parameter
    #: and can all be passed positionally (the cheapest call).
    positional: bool
    #: python-mediator's `CallableHandlerPolicy` options: keyword renames
    #: (``{"call name": "parameter"}``) and "pass every keyword argument".
    arg_map: Mapping[str, str]
    arg_strict: bool
    #: The missing name, while the annotation names a class that does not exist yet.
    unresolved: Unresolved | None = None
    #: ``register(..., thread=True, abandon_on_cancel=True)``: a cancelled call
    #: stops waiting for its worker thread, which runs on and whose outcome is dropped.
    abandon_on_cancel: bool = False

    @property
    def location(self) -> str | None:
        """``path:line`` of the handler's definition."""
        return source_location(self.fn)

    @property
    def described(self) -> str:
        """``module.QualName (path:line)``, the form errors use."""
        location = self.location
        return f"{self.name} ({location})" if location else self.name

    @property
    def key(self) -> type | tuple[type, ...]:
        """The message type (a tuple of types for a union), as python-mediator called it."""
        return self.message_types[0] if len(self.message_types) == 1 else self.message_types

    def __repr__(self) -> str:
        types = " | ".join(type_name(t) for t in self.message_types) or repr(self.annotation)
        return f"<Handler {self.described} for {types}>"

    def __call__(self, action: ActionSubject) -> Awaitable[ActionResult]:
        """Run the handler for a python-mediator ``ActionSubject``, without any modifier."""
        from ._legacy import call_handler

        return call_handler(self, action)


@dataclass(frozen=True, eq=False, slots=True)
class HandlerEntry:
    """A handler as a registry holds it: the handler and its modifiers, outermost first."""

    handler: Handler
    modifiers: tuple[Modifier, ...] = ()

    @property
    def key(self) -> type | tuple[type, ...]:
        """The message type(s) of the handler."""
        return self.handler.key

    def stacked(self, modifiers: Sequence[Modifier]) -> HandlerEntry:
        """A new entry for the same handler, with ``modifiers`` wrapped around its own."""
        return HandlerEntry(self.handler, (*modifiers, *self.modifiers))

    #: python-mediator's name for `stacked`.
    stack = stacked
