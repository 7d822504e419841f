"""`Handler`: the record a registration produces, and that dispatch reads.

Inspection (`mediator._inspect`) runs once per handler and builds it; the
callables it carries (``invoke``, ``endpoint``, ``direct``) are compiled by
`mediator._invoke` for the handler's shape, so a call reads plain data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from ._annotations import Unresolved, evaluate, message_types
from ._errors import UnresolvedAnnotationError
from ._invoke import Invoker, compile_endpoint, compile_invoker
from ._modifiers import ActionCallType, ActionResult, ActionSubject
from ._names import callable_name, code_owner, source_location, type_name

__all__ = ["Handler", "HandlerKind", "Invoker"]

HandlerKind = Literal["async", "sync", "thread", "stream"]


class Handler:
    """A registered handler, as the bus sees it.

    Built once at registration; immutable afterwards except for the lazy
    resolution of a forward-referenced message annotation.  It is what
    ``PublishError.failures``, ``on_error`` and modifier factories (as
    ``target``) receive, and it can be called as the last link of a modifier
    chain.
    """

    __slots__ = (
        "_location",
        "accepts",
        "annotation",
        "arg_map",
        "arg_strict",
        "direct",
        "endpoint",
        "fn",
        "invoke",
        "kind",
        "message_types",
        "name",
        "obj",
        "positional",
        "required",
        "subject",
        "subject_keyword",
        "unresolved",
        "var_keyword",
    )

    obj: Any
    fn: Callable[..., Any]
    kind: HandlerKind
    name: str
    _location: str | bool | None
    subject: str
    subject_keyword: bool
    accepts: frozenset[str]
    positional: tuple[str, ...]
    required: tuple[str, ...]
    var_keyword: bool
    arg_map: Mapping[str, str]
    arg_strict: bool
    annotation: Any
    message_types: tuple[type, ...]
    unresolved: Unresolved | None
    invoke: Invoker
    endpoint: ActionCallType
    direct: Callable[[Any], Any] | None

    def __init__(
        self,
        *,
        obj: Any,
        fn: Callable[..., Any],
        kind: HandlerKind,
        subject: str,
        subject_keyword: bool,
        accepts: frozenset[str],
        positional: tuple[str, ...],
        required: tuple[str, ...],
        var_keyword: bool,
        arg_map: Mapping[str, str],
        arg_strict: bool,
        annotation: Any,
        message_types: tuple[type, ...],
        unresolved: Unresolved | None,
    ) -> None:
        self.obj = obj
        self.fn = fn
        self.kind = kind
        self.name = callable_name(fn)
        self._location = False  # found on first use: registration stays cheap
        self.subject = subject
        self.subject_keyword = subject_keyword
        self.accepts = accepts
        self.positional = positional
        self.required = required
        self.var_keyword = var_keyword
        self.arg_map = dict(arg_map)
        self.arg_strict = arg_strict
        self.annotation = annotation
        self.message_types = message_types
        self.unresolved = unresolved
        plain = kind == "async" and not (subject_keyword or accepts or var_keyword or arg_strict)
        #: ``fn`` itself when ``fn(message)`` is the whole call (no extras): the
        #: event bus and modifier chains then skip the invoker.
        self.direct = fn if plain else None
        self.invoke = compile_invoker(self)
        self.endpoint = compile_endpoint(self)

    @property
    def key(self) -> type | tuple[type, ...]:
        """The message type (a tuple of types for a union), as python-mediator called it."""
        return self.message_types[0] if len(self.message_types) == 1 else self.message_types

    @property
    def location(self) -> str | None:
        """``path:line`` of the handler's definition."""
        if self._location is False:
            self._location = source_location(self.fn)
        return self._location  # type: ignore[return-value]

    @property
    def described(self) -> str:
        """``module.qualname (path:line)``."""
        return f"{self.name} ({self.location})" if self.location else self.name

    def __repr__(self) -> str:
        types = " | ".join(type_name(t) for t in self.message_types) or repr(self.annotation)
        return f"<Handler {self.described} for {types}>"

    def __call__(self, action: ActionSubject) -> Awaitable[ActionResult]:
        """Run the handler for ``action``: the innermost link of a modifier chain."""
        return self.endpoint(action)

    def resolve(self) -> None:
        """Evaluate a message annotation that named a missing class at registration.

        Raises `UnresolvedAnnotationError` when the name is still missing.
        """
        if self.unresolved is None:
            return
        annotation = evaluate(self.fn, self.annotation)
        if isinstance(annotation, Unresolved):
            self.unresolved = annotation
            raise unresolved_error(self)
        self.message_types = message_types(annotation, fn=self.fn, parameter=self.subject)
        self.unresolved = None


def unresolved_error(handler: Handler) -> UnresolvedAnnotationError:
    pending = handler.unresolved
    assert pending is not None  # callers check first
    name = pending.name
    module = getattr(code_owner(handler.fn), "__module__", "?")
    missing = f"{name!r}, which is not defined in module {module}" if name else str(pending.error)
    return UnresolvedAnnotationError(
        f"Cannot route messages to {handler.described}: the annotation of its message "
        f"parameter {handler.subject!r}, {handler.annotation!r}, names {missing}. "
        f"If it is imported under `if TYPE_CHECKING:`, import it at run time: the bus needs "
        f"the class itself to route messages. A class defined inside a function cannot be "
        f"found from a string annotation (as written with `from __future__ import "
        f"annotations`): define it at module level. (Such annotations are resolved at the "
        f"first dispatch or at freeze(); until this one resolves the bus routes no message, "
        f"since this handler could be the one for it.)",
        handler=handler.described,
        parameter=handler.subject,
        name=name,
    )
