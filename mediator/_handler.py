"""The compiled form of a handler, and the code that calls it.

Inspection (`mediator._inspect`) runs once per handler and produces a
`Handler`; a dispatch only runs ``handler.invoke(message, kwargs)``, a closure
picked at registration for the handler's shape, which binds arguments without
``inspect``, and returns the handler's own coroutine (or async iterator).
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Literal

import anyio.to_thread

from ._annotations import Unresolved, evaluate, message_types
from ._errors import HandlerArgumentError, MissingArgumentError, UnresolvedAnnotationError
from ._modifiers import ActionCallType, ActionResult, ActionSubject
from ._names import callable_name, code_owner, source_location, type_name

__all__ = ["Handler", "HandlerKind", "Invoker"]

HandlerKind = Literal["async", "sync", "thread", "stream"]

#: ``invoke(message, kwargs)``: starts the handler and returns its coroutine
#: (or, for a stream handler, its async iterator).  Argument errors are raised
#: right away, before any handler code runs.
Invoker = Callable[[Any, dict[str, Any]], Any]

_NO_KWARGS: Final[dict[str, Any]] = {}


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
        self.invoke = _compile(self)
        self.endpoint = _endpoint(self)

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


def explain_argument_error(
    handler: Handler, kwargs: Mapping[str, Any], given: Mapping[str, Any] | None = None
) -> None:
    """Raise a `HandlerArgumentError` if ``kwargs`` cannot bind to the handler; else return.

    ``given`` is what the call passed, before renaming and filtering.

    Only called after the handler raised ``TypeError`` while being started, so
    this slow path costs nothing on successful calls.
    """
    missing = [name for name in handler.required if name not in kwargs]
    if missing:
        renamed = {target: source for source, target in handler.arg_map.items()}
        wanted = ", ".join(f"{renamed.get(name, name)}=..." for name in missing)
        received = ", ".join(sorted(kwargs if given is None else given)) or "none"
        plural = "s" if len(missing) > 1 else ""
        names = ", ".join(repr(name) for name in missing)
        raise MissingArgumentError(
            f"{handler.described} needs the argument{plural} {names}, which the call did not "
            f"give (keyword arguments it received: {received}). Pass {wanted} to execute()/"
            f"publish(), set it from a modifier (action.inject), or give the parameter a default.",
            handler=handler,
            parameters=missing,
        )
    try:
        signature = inspect.signature(handler.fn)
    except (TypeError, ValueError):  # pragma: no cover - inspected fine at registration
        return
    arguments = dict(kwargs)
    if handler.subject_keyword:
        if handler.subject in arguments:
            raise HandlerArgumentError(
                f"{handler.described}: the keyword argument {handler.subject!r} collides with "
                f"its message parameter; rename the keyword argument",
                handler=handler,
            )
        arguments[handler.subject] = None
        args: tuple[Any, ...] = ()
    else:
        args = (None,)
    try:
        signature.bind(*args, **arguments)
    except TypeError as error:
        raise HandlerArgumentError(
            f"{handler.described} cannot take the keyword arguments of this call: {error}. "
            f"With arg_strict=True every keyword argument of the call is passed on; drop "
            f"arg_strict, or accept them with **kwargs",
            handler=handler,
        ) from None


def _compile(handler: Handler) -> Invoker:
    """Pick the cheapest correct way to call this handler."""
    fn = handler.fn
    if handler.kind in ("sync", "thread"):
        pick = _picker(handler)
        runner = _run_in_thread if handler.kind == "thread" else _run_inline

        def invoke_sync(message: Any, given: dict[str, Any]) -> Any:
            kwargs = pick(given) if (pick is not None and given) else _NO_KWARGS
            return runner(handler, message, kwargs, given)

        return invoke_sync

    # Calling an async (generator) function only binds its arguments: its body
    # has not run, so a TypeError here is an argument error and can be explained
    # or, below, retried with the keyword arguments filtered.
    if handler.subject_keyword or handler.arg_map or handler.var_keyword or handler.arg_strict:
        return _general_invoker(handler)
    accepts = handler.accepts
    if not accepts:
        return lambda message, kwargs: fn(message)

    def call_by_name(message: Any, kwargs: dict[str, Any]) -> Any:
        picked = kwargs
        if not kwargs.keys() <= accepts:
            picked = {k: v for k, v in kwargs.items() if k in accepts}
        try:
            return fn(message, **picked)
        except TypeError:
            explain_argument_error(handler, picked, kwargs)
            raise

    positional = handler.positional
    if not positional:
        return call_by_name

    # The call usually passes exactly the handler's extra parameters: then they
    # go positionally, which is much cheaper than unpacking a dict.
    count = len(positional)
    take = operator.itemgetter(*positional)

    if count == 1:

        def invoke_one(message: Any, kwargs: dict[str, Any]) -> Any:
            if len(kwargs) == 1:
                try:
                    value = take(kwargs)
                except KeyError:
                    pass
                else:
                    return fn(message, value)
            return call_by_name(message, kwargs)

        return invoke_one

    def invoke_many(message: Any, kwargs: dict[str, Any]) -> Any:
        if len(kwargs) == count:
            try:
                values = take(kwargs)
            except KeyError:
                pass
            else:
                return fn(message, *values)
        return call_by_name(message, kwargs)

    return invoke_many


def _general_invoker(handler: Handler) -> Invoker:
    fn = handler.fn
    pick = _picker(handler)
    subject = handler.subject
    keyword = handler.subject_keyword

    def invoke(message: Any, given: dict[str, Any]) -> Any:
        kwargs = pick(given) if (pick is not None and given) else _NO_KWARGS
        try:
            if keyword:
                return fn(**kwargs, **{subject: message})
            return fn(message, **kwargs)
        except TypeError:
            explain_argument_error(handler, kwargs, given)
            raise

    return invoke


def _endpoint(handler: Handler) -> ActionCallType:
    """The innermost link of a modifier chain: run the handler, box its result."""
    invoke = handler.invoke
    direct = handler.direct
    new = object.__new__  # skips the dataclass __init__: this runs on every call

    if direct is not None:

        async def endpoint_direct(action: ActionSubject) -> ActionResult:
            value = await direct(action.subject)
            boxed: ActionResult = new(ActionResult)
            boxed.result = value
            return boxed

        return endpoint_direct

    if handler.kind == "stream":

        async def endpoint_stream(action: ActionSubject) -> ActionResult:
            boxed: ActionResult = new(ActionResult)
            boxed.result = invoke(action.subject, action.inject)
            return boxed

        return endpoint_stream

    async def endpoint(action: ActionSubject) -> ActionResult:
        value = await invoke(action.subject, action.inject)
        boxed: ActionResult = new(ActionResult)
        boxed.result = value
        return boxed

    return endpoint


def _picker(handler: Handler) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """The function that turns a call's kwargs into the handler's, or None if it takes none."""
    arg_map = handler.arg_map
    if handler.var_keyword or handler.arg_strict:
        if arg_map:
            return lambda kwargs: {arg_map.get(k, k): v for k, v in kwargs.items()}
        return lambda kwargs: kwargs
    accepts = handler.accepts
    if not accepts:
        return None
    if arg_map:
        return lambda kwargs: {
            name: v for k, v in kwargs.items() if (name := arg_map.get(k, k)) in accepts
        }
    return lambda kwargs: {k: v for k, v in kwargs.items() if k in accepts}


def _bind(handler: Handler, message: Any, kwargs: dict[str, Any]) -> Callable[[], Any]:
    if handler.subject_keyword:
        return functools.partial(handler.fn, **kwargs, **{handler.subject: message})
    return functools.partial(handler.fn, message, **kwargs)


async def _run_inline(
    handler: Handler, message: Any, kwargs: dict[str, Any], given: dict[str, Any]
) -> Any:
    call = _bind(handler, message, kwargs)
    try:
        result = call()
    except TypeError:
        # The body may have raised it: explain only if binding is the cause.
        explain_argument_error(handler, kwargs, given)
        raise
    if inspect.iscoroutine(result):  # a sync decorator around an async handler
        return await result
    return result


async def _run_in_thread(
    handler: Handler, message: Any, kwargs: dict[str, Any], given: dict[str, Any]
) -> Any:
    # anyio copies the caller's contextvars into the worker thread.
    call = _bind(handler, message, kwargs)
    try:
        return await anyio.to_thread.run_sync(call)
    except TypeError:
        explain_argument_error(handler, kwargs, given)
        raise
