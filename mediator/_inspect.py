"""Reading a handler once: every registration-time check lives here.

`inspect_handler` applies the handler policies to a registered object, reads
the callable's signature and message annotation, and returns the immutable
`Handler` record, or raises an error naming the handler, the parameter and
the fix.  `resolve` does the same for an annotation that could only be
evaluated later.  The options of ``register``, ``include``, the registries
and the buses (``policies=``, ``modifiers=``, ``thread=``, ``strategy=``, ...)
are checked here too, where they are given, so a mistake fails at the line
that made it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from ._annotations import Caller, Unresolved, closest_class, evaluate, module_namespace
from ._chain import Modifier
from ._delivery import Strategy
from ._errors import (
    ConfigurationError,
    ConfigurationProblem,
    DuplicateHandlerError,
    ModifierError,
    RegistrationError,
    RegistrationProblem,
    RegistryKind,
    UnresolvedAnnotationError,
)
from ._handler import Handler, HandlerEntry, HandlerKind
from ._legacy import is_factory, strategy_of_sync_mode
from ._names import callable_name, type_name
from ._policies import CallableHandlerPolicy, MethodHandlerPolicy, Policy

__all__ = [
    "check_abandon",
    "check_distinct",
    "check_entries",
    "check_entry",
    "check_modifiers",
    "check_policies",
    "check_strategy",
    "check_thread",
    "check_unique",
    "inspect_handler",
    "resolve",
]

_POSITIONAL_ONLY = inspect.Parameter.POSITIONAL_ONLY
_POSITIONAL_OR_KEYWORD = inspect.Parameter.POSITIONAL_OR_KEYWORD
_KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY
_VAR_POSITIONAL = inspect.Parameter.VAR_POSITIONAL
_VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD
_EMPTY = inspect.Parameter.empty


# -- options ----------------------------------------------------------------------------


def check_policies(policies: object, where: str) -> tuple[Policy, ...] | None:
    """A ``policies=`` argument as a tuple (None when not given), or `ConfigurationError`."""
    if policies is None:
        return None
    if isinstance(policies, (str, bytes)) or not isinstance(policies, Sequence) or not policies:
        raise ConfigurationError(where, "policies", option="policies", value=policies)
    for policy in policies:
        if not isinstance(policy, (CallableHandlerPolicy, MethodHandlerPolicy)):
            raise ConfigurationError(where, "policy", option="policies", value=policies)
    return tuple(policies)


def check_thread(thread: object, where: str) -> bool:
    if not isinstance(thread, bool):
        raise ConfigurationError(where, "thread", option="thread", value=thread)
    return thread


def check_abandon(abandon: object, thread: bool, where: str) -> bool:
    if not isinstance(abandon, bool):
        raise ConfigurationError(
            where, "abandon-on-cancel", option="abandon_on_cancel", value=abandon
        )
    if abandon and not thread:
        raise ConfigurationError(
            where, "abandon-without-thread", option="abandon_on_cancel", value=abandon
        )
    return abandon


def check_strategy(
    where: str,
    strategy: object,
    *,
    sync_mode: bool | None,
    max_concurrency: object,
    max_in_flight: object = None,
    on_error: object,
) -> Strategy:
    """The options of `LocalEventBus`, as its strategy (python-mediator's ``sync_mode`` too)."""
    if sync_mode is not None and not isinstance(sync_mode, bool):
        raise ConfigurationError(where, "sync-mode", option="sync_mode", value=sync_mode)
    chosen = strategy_of_sync_mode(sync_mode, strategy) or strategy or "sequential"
    if chosen not in ("sequential", "concurrent", "background"):
        raise ConfigurationError(where, "strategy", option="strategy", value=strategy)
    if max_concurrency is not None:
        limit = max_concurrency
        if not _positive(limit):
            raise ConfigurationError(
                where, "max-concurrency", option="max_concurrency", value=max_concurrency
            )
        if chosen != "concurrent":
            problem: ConfigurationProblem = (
                "max-concurrency-sequential"
                if chosen == "sequential"
                else "max-concurrency-background"
            )
            raise ConfigurationError(where, problem, option="max_concurrency", value=limit)
    if max_in_flight is not None:
        if not _positive(max_in_flight):
            raise ConfigurationError(
                where, "max-in-flight", option="max_in_flight", value=max_in_flight
            )
        if chosen != "background":
            raise ConfigurationError(
                where, "max-in-flight-strategy", option="max_in_flight", value=max_in_flight
            )
    if on_error is not None:
        if not callable(on_error):
            raise ConfigurationError(where, "on-error", option="on_error", value=on_error)
        if chosen != "background":
            raise ConfigurationError(where, "on-error-strategy", option="on_error", value=on_error)
    return chosen


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_entries(entries: object) -> list[object]:
    """What ``include`` was given, as a list: a registry, a bus, or their entries."""
    if not isinstance(entries, Iterable):
        raise RegistrationError(entries, "include-item")
    return list(entries)


def check_entry(entry: object, *, streams: bool) -> HandlerEntry:
    """An item given to ``include``: a `HandlerEntry` the registry can take."""
    if not isinstance(entry, HandlerEntry):
        raise RegistrationError(entry, "include-item")
    handler = entry.handler
    if handler.kind == "stream" and not streams:
        raise RegistrationError(handler.obj, "stream-on-event-bus", fn=handler.fn)
    return entry


def check_modifiers(
    modifiers: object, where: str, handler: Handler | None = None
) -> tuple[Modifier, ...]:
    """A ``modifiers=`` argument as a tuple of middleware functions and factories.

    ``handler``: the handler they are given for, named by the errors, when known.
    """
    if modifiers is None:  # python-mediator's default
        return ()
    if isinstance(modifiers, (str, bytes)) or not isinstance(modifiers, Sequence):
        raise ModifierError("not-a-sequence", where=where, handler=handler, value=modifiers)
    for modifier in modifiers:
        if is_factory(modifier):
            continue
        if isinstance(modifier, type):
            raise ModifierError("class", modifier=modifier, where=where, handler=handler)
        if not callable(modifier):
            raise ModifierError("not-callable", modifier=modifier, where=where, handler=handler)
        own_call = getattr(type(modifier), "__call__", None)  # noqa: B004 - an async __call__
        if not (inspect.iscoroutinefunction(modifier) or inspect.iscoroutinefunction(own_call)):
            raise ModifierError("not-async", modifier=modifier, where=where, handler=handler)
        try:
            signature = inspect.signature(modifier)
        except (TypeError, ValueError):  # pragma: no cover - no readable signature
            continue
        try:
            signature.bind(None, None, None)
        except TypeError:
            bare = signature.replace(
                parameters=[p.replace(annotation=_EMPTY) for p in signature.parameters.values()],
                return_annotation=_EMPTY,
            )
            raise ModifierError(
                "signature", modifier=modifier, where=where, handler=handler, detail=str(bare)
            ) from None
    return tuple(modifiers)


def check_unique(
    entries: Sequence[HandlerEntry],
    table: Mapping[type, Sequence[HandlerEntry]],
    stream_table: Mapping[type, Sequence[HandlerEntry]],
) -> None:
    """Raise `DuplicateHandlerError` if ``entries`` give a request type a second handler.

    ``table`` and ``stream_table`` are the registry's: a type may have one plain
    and one stream handler.
    """
    staged: dict[tuple[bool, type], HandlerEntry] = {}
    for entry in entries:
        stream = entry.handler.kind == "stream"
        routed = stream_table if stream else table
        for tp in entry.handler.message_types:
            existing = routed.get(tp)
            other = existing[0] if existing else staged.get((stream, tp))
            if other is not None:
                raise DuplicateHandlerError(
                    message_type=tp, existing=other.handler, new=entry.handler, stream=stream
                )
            staged[stream, tp] = entry


def check_distinct(
    entries: Sequence[HandlerEntry], table: Mapping[type, Sequence[HandlerEntry]]
) -> None:
    """Raise `DuplicateHandlerError` if ``entries`` subscribe a handler to an event type twice.

    Twice would deliver every such event twice, and nobody wants that by
    accident (registering a function again, including a registry twice).
    The same function counts as the same handler; equal objects do not.
    """
    staged: dict[tuple[type, tuple[int, int]], HandlerEntry] = {}
    for entry in entries:
        same = _identity(entry.handler)
        for tp in entry.handler.message_types:
            other = staged.get((tp, same))
            for existing in table.get(tp, ()):
                if _identity(existing.handler) == same:
                    other = existing
            if other is not None:
                raise DuplicateHandlerError(
                    message_type=tp,
                    existing=other.handler,
                    new=entry.handler,
                    stream=False,
                    event=True,
                )
            staged[tp, same] = entry


def _identity(handler: Handler) -> tuple[int, int]:
    """What makes two registrations the same handler: the function, and its ``self``."""
    fn = handler.fn
    return id(getattr(fn, "__func__", fn)), id(getattr(fn, "__self__", None))


# -- handlers ---------------------------------------------------------------------------


def inspect_handler(
    obj: Any,
    policies: Sequence[Policy],
    *,
    thread: bool,
    streams: bool,
    caller: Caller | None = None,
    shared: bool = False,
) -> Handler:
    """The `Handler` record of ``obj``, found by the first policy that applies to it.

    ``streams``: whether the registry runs stream handlers (request side only).
    ``caller``: the function that called ``register``; if it is where the
    handler was defined, string annotations may name classes local to it.
    ``shared``: the policies are the bus's or registry's, shared by all its
    handlers, rather than given to ``register`` for this one: an ``arg_map``
    entry naming none of this handler's parameters is then not a mistake, it
    is for other handlers.  A policy that applies but finds a mistake reports
    it, rather than trying the next policy.
    """
    registry: RegistryKind = "request" if streams else "event"
    if obj is None:
        raise RegistrationError(obj, "none", registry=registry)
    if isinstance(obj, classmethod):
        raise RegistrationError(obj, "classmethod", fn=obj.__func__, registry=registry)
    fn, options = _apply_policies(obj, policies, registry)
    if isinstance(fn, staticmethod):  # @bus.register above @staticmethod: the function
        fn = fn.__func__
    return _inspect_callable(
        obj,
        fn,
        options,
        thread=thread,
        streams=streams,
        localns=caller.namespace_of(fn) if caller is not None else None,
        shared=shared,
    )


def resolve(handler: Handler) -> Handler:
    """``handler`` with its late annotation evaluated, or `UnresolvedAnnotationError`."""
    unresolved = handler.unresolved
    if unresolved is None:
        return handler
    localns = unresolved.localns
    resolved = _evaluate(
        handler.obj, handler.fn, handler.message_parameter, handler.annotation, localns
    )
    if isinstance(resolved, Unresolved):
        suggestion = None
        if resolved.name:
            suggestion = closest_class(
                resolved.name, (module_namespace(handler.fn), localns), unresolved.local_classes
            )
        raise UnresolvedAnnotationError(
            handler, name=resolved.name, detail=resolved.detail, suggestion=suggestion
        )
    types_ = _message_types(
        resolved, handler.obj, handler.fn, handler.message_parameter, handler.annotation
    )
    return dataclasses.replace(handler, message_types=types_, unresolved=None)


def _evaluate(
    obj: Any, fn: Any, parameter: str, annotation: Any, localns: Mapping[str, Any] | None = None
) -> Any:
    """The evaluated annotation, `Unresolved`, or a `RegistrationError` naming the handler."""
    try:
        return evaluate(fn, annotation, localns)
    except Exception as error:
        raise RegistrationError(
            obj,
            "annotation-error",
            fn=fn,
            parameter=parameter,
            annotation=annotation,
            detail=f"{type(error).__name__}: {error}",
        ) from None


def _apply_policies(
    obj: Any, policies: Sequence[Policy], registry: RegistryKind
) -> tuple[Any, CallableHandlerPolicy]:
    reasons: list[str] = []
    for policy in policies:
        if isinstance(policy, CallableHandlerPolicy):
            if callable(obj):
                return obj, policy
            reasons.append("CallableHandlerPolicy(): it is not callable")
            continue
        shown = f"MethodHandlerPolicy(name={policy.name!r})"
        if policy.subtype_of and not isinstance(obj, tuple(policy.subtype_of)):
            allowed = ", ".join(type_name(t) for t in policy.subtype_of)
            reasons.append(f"{shown}: it is not an instance of {allowed}")
            continue
        method = getattr(obj, policy.name, None)
        if not callable(method):
            reasons.append(f"{shown}: it has no method {policy.name!r}")
            continue
        if isinstance(obj, type):
            raise RegistrationError(obj, "class", registry=registry)
        return method, policy.policy
    named = {policy.name for policy in policies if isinstance(policy, MethodHandlerPolicy)}
    methods = [
        name
        for name, value in inspect.getmembers(type(obj))
        if not name.startswith("_") and inspect.iscoroutinefunction(value) and name not in named
    ]
    raise RegistrationError(
        obj,
        "no-policy",
        parameter=methods[0] if methods else None,
        detail="; ".join(reasons),
        registry=registry,
    )


def _kind(fn: Any, *, thread: bool) -> HandlerKind | None:
    """How the bus calls ``fn``; None for a sync generator function (never a handler)."""
    target = fn
    if not (inspect.isroutine(fn) or isinstance(fn, functools.partial)):
        target = getattr(type(fn), "__call__", fn)  # noqa: B004 - a callable instance
    if inspect.isasyncgenfunction(target):
        return "stream"
    if inspect.iscoroutinefunction(target):
        return "async"
    if inspect.isgeneratorfunction(target):
        return None
    return "thread" if thread else "sync"


def _signature(fn: Any) -> inspect.Signature:
    if sys.version_info >= (3, 14):  # pragma: no cover - annotations are lazy from 3.14
        import annotationlib

        return inspect.signature(fn, annotation_format=annotationlib.Format.FORWARDREF)
    return inspect.signature(fn)


def _inspect_callable(
    obj: Any,
    fn: Any,
    options: CallableHandlerPolicy,
    *,
    thread: bool,
    streams: bool,
    localns: Mapping[str, Any] | None,
    shared: bool,
) -> Handler:
    registry: RegistryKind = "request" if streams else "event"

    def fail(problem: RegistrationProblem, **fields: Any) -> RegistrationError:
        return RegistrationError(obj, problem, fn=fn, registry=registry, **fields)

    if isinstance(fn, type):
        raise fail("class")
    kind = _kind(fn, thread=thread)
    if kind is None:
        raise fail("sync-generator")
    if thread and kind not in ("sync", "thread"):
        raise fail("thread-on-async", detail="async generator" if kind == "stream" else "async")
    if kind == "stream" and not streams:
        raise fail("stream-on-event-bus")
    try:
        parameters = list(_signature(fn).parameters.values())
    except Exception as error:  # no signature, or an attribute of the object raised
        raise fail("signature", detail=f"{type(error).__name__}: {error}") from None
    if not parameters:
        raise fail("no-parameters")
    method = _unbound_method(fn, parameters[0])
    if method is not None and (
        parameters[0].name in ("self", "cls") or parameters[0].annotation is _EMPTY
    ):
        raise fail("unbound-method", parameter=parameters[0].name, detail=method)

    message = _message_parameter(parameters, options.subject_arg, fail)
    by_keyword = message.kind is not _POSITIONAL_ONLY and (
        options.subject_arg is not None or message.kind is _KEYWORD_ONLY
    )
    injectable: list[str] = []
    required: list[str] = []
    var_keyword = False
    for parameter in parameters:
        if parameter is message or parameter.kind is _VAR_POSITIONAL:
            continue
        if parameter.kind is _VAR_KEYWORD:
            var_keyword = True
        elif parameter.kind is _POSITIONAL_ONLY:
            if parameter.default is _EMPTY:
                raise fail("positional-only", parameter=parameter.name)
        else:
            injectable.append(parameter.name)
            if parameter.default is _EMPTY:
                required.append(parameter.name)
    # The injectable parameters can go positionally if they directly follow a
    # positional message parameter: a much cheaper call than unpacking a dict.
    following: list[str] = []
    for parameter in parameters[1:]:
        if parameter.kind is not _POSITIONAL_OR_KEYWORD:
            break
        following.append(parameter.name)
    positional = not by_keyword and message is parameters[0] and following == injectable != []

    arg_map = dict(options.arg_map)
    for source, target in options.arg_map.items():
        applies = target != message.name and (target in injectable or var_keyword)
        if applies:
            continue
        if shared:
            # The bus's arg_map, for the handlers that have the parameter: not this one.
            del arg_map[source]
        elif target == message.name:
            raise fail("arg-map-message", parameter=target, detail=source)
        else:
            raise fail("arg-map-unknown", parameter=target, detail=source)

    annotation = message.annotation
    if annotation is _EMPTY:
        if getattr(fn, "__name__", None) == "<lambda>":
            raise fail("lambda", parameter=message.name)
        raise fail("unannotated", parameter=message.name)
    resolved = _evaluate(obj, fn, message.name, annotation, localns)
    unresolved = resolved if isinstance(resolved, Unresolved) else None
    return Handler(
        obj=obj,
        fn=fn,
        kind=kind,
        name=callable_name(fn),
        message_parameter=message.name,
        message_by_keyword=by_keyword,
        annotation=annotation,
        message_types=()
        if unresolved
        else _message_types(resolved, obj, fn, message.name, annotation),
        injectable=tuple(injectable),
        required=tuple(required),
        var_keyword=var_keyword,
        positional=positional,
        arg_map=arg_map,
        arg_strict=options.arg_strict,
        unresolved=unresolved,
    )


def _unbound_method(fn: Any, first: inspect.Parameter) -> str | None:
    """``Class.name`` if ``fn`` is a plain function defined in a class body, else None.

    Registered as is (``@bus.register`` in the class body, or
    ``bus.register(Class.name)``), its first parameter would receive the message.
    """
    if not inspect.isfunction(fn) or first.kind in (_VAR_POSITIONAL, _VAR_KEYWORD):
        return None
    parts = str(getattr(fn, "__qualname__", "")).split(".")
    if len(parts) < 2 or parts[-2] == "<locals>":
        return None
    return f"{parts[-2]}.{parts[-1]}"


def _message_parameter(
    parameters: list[inspect.Parameter], subject_arg: str | None, fail: Any
) -> inspect.Parameter:
    if subject_arg is None:
        first = parameters[0]
        if first.kind is _VAR_POSITIONAL:
            raise fail("variadic-message", parameter=first.name, detail="*")
        if first.kind is _VAR_KEYWORD:
            raise fail("variadic-message", parameter=first.name, detail="**")
        return first
    for index, parameter in enumerate(parameters):
        if parameter.name != subject_arg:
            continue
        if parameter.kind in (_VAR_POSITIONAL, _VAR_KEYWORD):
            raise fail("subject-arg-variadic", parameter=subject_arg)
        if parameter.kind is _POSITIONAL_ONLY and index:
            raise fail("subject-arg-positional", parameter=subject_arg)
        return parameter
    names = ", ".join(repr(p.name) for p in parameters)
    raise fail("subject-arg-unknown", parameter=subject_arg, detail=f"its parameters: {names}")


def _message_types(
    annotation: Any, obj: Any, fn: Any, parameter: str, written: Any
) -> tuple[type, ...]:
    """The classes an evaluated annotation stands for: ``A`` -> (A,), ``A | B`` -> (A, B).

    ``written`` is the annotation as the handler spells it, for errors.
    """
    found: list[type] = []

    def collect(tp: Any) -> None:
        origin = get_origin(tp)
        if origin is Annotated:
            collect(get_args(tp)[0])
            return
        if origin is Union or origin is types.UnionType:
            for member in get_args(tp):
                collect(member)
            return
        problem: RegistrationProblem | None = None
        detail = None
        if tp is None or tp is type(None):
            problem = "annotation-none"
        elif tp is Any:
            problem = "annotation-any"
        elif isinstance(tp, TypeVar):
            problem = "annotation-typevar"
        elif origin is not None and isinstance(origin, type):
            problem, detail = "annotation-generic", type_name(origin)
        elif origin is not None or not isinstance(tp, type):
            problem = "annotation-not-class"
        if problem is not None:
            raise RegistrationError(
                obj, problem, fn=fn, parameter=parameter, annotation=written, detail=detail
            )
        found.append(tp)

    collect(annotation)
    return tuple(dict.fromkeys(found))
