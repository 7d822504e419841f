"""Reading a handler once: every registration-time check lives here.

`inspect_callable` turns a callable into a `Handler` or raises a
`RegistrationError` naming the handler (qualified name and ``file:line``), the
parameter, what is wrong and how to fix it.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ._annotations import Unresolved, evaluate, message_types
from ._errors import RegistrationError
from ._handler import Handler, HandlerKind
from ._names import describe

__all__ = ["inspect_callable", "kind_of"]

_POSITIONAL_ONLY = inspect.Parameter.POSITIONAL_ONLY
_KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY
_VAR_POSITIONAL = inspect.Parameter.VAR_POSITIONAL
_VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD
_EMPTY = inspect.Parameter.empty


def _call_target(fn: Any) -> Any:
    """The object whose flavour (async, generator, ...) decides how ``fn`` is called."""
    if inspect.isroutine(fn) or isinstance(fn, functools.partial):
        return fn
    return getattr(type(fn), "__call__", fn)  # noqa: B004 - a callable instance


def kind_of(fn: Any, *, thread: bool) -> HandlerKind | None:
    """How the bus calls ``fn``, or None for a sync generator function (never a handler)."""
    target = _call_target(fn)
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


def inspect_callable(
    fn: Any,
    *,
    obj: Any,
    subject_arg: str | None,
    arg_map: Mapping[str, str],
    arg_strict: bool,
    thread: bool,
    streams: bool,
    localns: Mapping[str, Any] | None = None,
) -> Handler:
    """Inspect ``fn`` (the callable a policy picked out of ``obj``) into a `Handler`.

    ``localns``: the local namespace of the code that registered ``fn``.
    """

    def fail(problem: str, fix: str) -> RegistrationError:
        where = describe(fn)  # only on failure: finding the source file costs
        return RegistrationError(f"Cannot register {where}: {problem}. {fix}", handler=where)

    if isinstance(fn, type):
        raise fail(
            "it is a class",
            f"Register an instance of it (bus.register({fn.__name__}(...))) or one of its "
            f"methods; with MethodHandlerPolicy(name=...) the bus calls that method of the "
            f"instance",
        )
    if not callable(fn):
        raise fail(
            "it is not callable",
            "Register an async function, a function, or an object "
            "that a MethodHandlerPolicy of the bus recognises",
        )
    kind = kind_of(fn, thread=thread)
    if kind is None:
        raise fail(
            "it is a sync generator function",
            "A stream handler is an `async def` function that yields: add `async`",
        )
    if thread and kind not in ("sync", "thread"):
        raise fail(
            f"thread=True was given but it is an {_flavour(kind)} function",
            "thread=True runs a plain `def` handler in a worker thread; drop thread=True",
        )
    if kind == "stream" and not streams:
        raise fail(
            "it is an async generator (a stream handler), and event handlers cannot stream",
            "Register stream handlers on a LocalRequestBus and consume them with bus.stream(...)",
        )

    try:
        signature = _signature(fn)
    except (TypeError, ValueError) as error:
        raise fail(
            f"its signature cannot be read ({error})",
            "Wrap it in a Python function with a message parameter",
        ) from None
    parameters = list(signature.parameters.values())
    if not parameters:
        raise fail(
            "it takes no parameters",
            "Its first parameter receives the message and its annotation picks the messages it "
            "handles, e.g. `async def handle(message: UserCreated): ...`",
        )

    subject = _subject_parameter(parameters, subject_arg, fail)
    subject_keyword = subject.kind is not _POSITIONAL_ONLY and (
        subject_arg is not None or subject.kind is _KEYWORD_ONLY
    )

    accepts: list[str] = []
    required: list[str] = []
    var_keyword = False
    for parameter in parameters:
        if parameter is subject or parameter.kind is _VAR_POSITIONAL:
            continue
        if parameter.kind is _VAR_KEYWORD:
            var_keyword = True
        elif parameter.kind is _POSITIONAL_ONLY:
            if parameter.default is _EMPTY:
                raise fail(
                    f"parameter {parameter.name!r} is positional-only and has no default, but "
                    f"the bus passes extra arguments by name",
                    "Make it a regular parameter (move it after the `/`) or give it a default",
                )
        else:
            accepts.append(parameter.name)
            if parameter.default is _EMPTY:
                required.append(parameter.name)

    # The injectable parameters, if they directly follow a positional message
    # parameter and can all be passed positionally (a faster call).
    positional: tuple[str, ...] = ()
    if not subject_keyword and subject is parameters[0]:
        following = []
        for parameter in parameters[1:]:
            if parameter.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
                break
            following.append(parameter.name)
        if following and set(following) == set(accepts):
            positional = tuple(following)

    for source, target in arg_map.items():
        if target == subject.name:
            raise fail(
                f"arg_map maps {source!r} onto its message parameter {target!r}",
                "arg_map renames extra keyword arguments; the message is always passed",
            )
        if target not in accepts and not var_keyword:
            known = ", ".join(repr(name) for name in accepts) or "none"
            raise fail(
                f"arg_map maps {source!r} to {target!r}, but it has no parameter {target!r} "
                f"(injectable parameters: {known})",
                "Fix the name in arg_map, or add the parameter",
            )

    annotation = subject.annotation
    if annotation is _EMPTY:
        raise fail(
            f"its message parameter {subject.name!r} has no type annotation",
            f"The bus routes each message by that annotation: annotate it with the message "
            f"class, e.g. `{subject.name}: UserCreated`",
        )
    try:
        resolved = evaluate(fn, annotation, localns)
    except Exception as error:
        raise fail(
            f"the annotation of its message parameter {subject.name!r}, {annotation!r}, "
            f"cannot be evaluated ({type(error).__name__}: {error})",
            "Annotate it with the message class",
        ) from None
    types: tuple[type, ...] = ()
    unresolved: Unresolved | None = None
    if isinstance(resolved, Unresolved):
        unresolved = resolved
    else:
        types = message_types(resolved, fn=fn, parameter=subject.name)

    return Handler(
        obj=obj,
        fn=fn,
        kind=kind,
        subject=subject.name,
        subject_keyword=subject_keyword,
        accepts=frozenset(accepts),
        positional=positional,
        required=tuple(required),
        var_keyword=var_keyword,
        arg_map=arg_map,
        arg_strict=arg_strict,
        annotation=annotation,
        message_types=types,
        unresolved=unresolved,
    )


def _subject_parameter(
    parameters: list[inspect.Parameter],
    subject_arg: str | None,
    fail: Callable[[str, str], RegistrationError],
) -> inspect.Parameter:
    if subject_arg is not None:
        for index, parameter in enumerate(parameters):
            if parameter.name != subject_arg:
                continue
            if parameter.kind in (_VAR_POSITIONAL, _VAR_KEYWORD):
                raise fail(
                    f"subject_arg={subject_arg!r} names its variadic parameter",
                    "Name a regular parameter as the message parameter",
                )
            if parameter.kind is _POSITIONAL_ONLY and index:
                raise fail(
                    f"subject_arg={subject_arg!r} names a positional-only parameter that is not "
                    f"the first one, so the message cannot be passed to it",
                    "Make it a regular parameter (move it after the `/`)",
                )
            return parameter
        names = ", ".join(repr(p.name) for p in parameters)
        raise fail(
            f"subject_arg={subject_arg!r} names no parameter of it (its parameters: {names})",
            "Fix subject_arg in its CallableHandlerPolicy",
        )
    first = parameters[0]
    if first.kind is _VAR_POSITIONAL:
        raise fail(
            f"its first parameter is *{first.name}",
            "Declare the message parameter first, e.g. `async def handle(message: UserCreated, "
            "*args)`, or name it with CallableHandlerPolicy(subject_arg=...)",
        )
    if first.kind is _VAR_KEYWORD:
        raise fail(
            f"it only takes **{first.name}",
            "Declare the message parameter first, e.g. `async def handle(message: UserCreated, "
            "**kwargs)`",
        )
    return first


def _flavour(kind: HandlerKind) -> str:
    return "async generator" if kind == "stream" else "async"
