"""Turning the annotation of a handler's message parameter into the types it handles.

Only the message parameter is evaluated: a handler whose *injected* parameters
are annotated with names imported under ``if TYPE_CHECKING:`` registers fine.
A name that does not exist yet is not an error at registration: the handler
waits, unresolved, until the first dispatch or ``freeze()``, so classes defined
further down the module work.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from ._errors import RegistrationError
from ._names import code_owner, describe, type_name

__all__ = ["Unresolved", "evaluate", "message_types"]


@dataclass(frozen=True, slots=True)
class Unresolved:
    """An annotation that names something missing at run time (for now)."""

    name: str | None
    error: NameError


def evaluate(fn: Any, raw: Any, localns: Mapping[str, Any] | None = None) -> Any:
    """Evaluate a (possibly string) annotation in the namespace ``fn`` was defined in.

    ``localns`` is the namespace of the function that registered ``fn``, for
    string annotations naming classes local to it.  Returns `Unresolved` when a
    name is missing; other failures propagate.
    """
    globalns = getattr(code_owner(fn), "__globals__", None) or {}
    # get_type_hints resolves strings and nested forward references the way
    # every type checker does; a namespace object with one annotation lets us
    # evaluate just the message parameter's.
    holder = types.SimpleNamespace(__annotations__={"message": raw})
    try:
        hints = typing.get_type_hints(
            holder, globalns=globalns, localns=localns, include_extras=True
        )
        return hints["message"]
    except NameError as error:
        return Unresolved(getattr(error, "name", None), error)


def message_types(annotation: Any, *, fn: Any, parameter: str) -> tuple[type, ...]:
    """The classes a resolved annotation stands for: ``A`` -> (A,), ``A | B`` -> (A, B).

    ``fn`` (the handler) and ``parameter`` only serve to name the culprit in errors.
    """
    found: list[type] = []
    _collect(annotation, found, where=fn, parameter=parameter, whole=annotation)
    return tuple(dict.fromkeys(found))


def _collect(tp: Any, found: list[type], *, where: Any, parameter: str, whole: Any) -> None:
    origin = get_origin(tp)
    if origin is Annotated:
        _collect(get_args(tp)[0], found, where=where, parameter=parameter, whole=whole)
        return
    if origin is Union or origin is types.UnionType:
        for member in get_args(tp):
            _collect(member, found, where=where, parameter=parameter, whole=whole)
        return

    def fail(problem: str, fix: str) -> RegistrationError:
        handler = describe(where)
        return RegistrationError(
            f"Cannot register {handler}: the annotation of its message parameter {parameter!r}, "
            f"{_show(whole)}, {problem}. {fix}",
            handler=handler,
        )

    if tp is None or tp is type(None):
        raise fail(
            "includes None",
            "A message is never None: drop the None (Optional) from the annotation.",
        )
    if tp is Any:
        raise fail(
            "is Any",
            "To receive every message, annotate it as `object`; otherwise name the message class.",
        )
    if isinstance(tp, TypeVar):
        raise fail(
            "is a type variable",
            "The bus needs a concrete class to route messages: name the message class.",
        )
    if origin is not None:
        if isinstance(origin, type):
            raise fail(
                "is a parameterized type",
                f"The bus routes by type(message), which is the bare class: annotate it as "
                f"{type_name(origin)}.",
            )
        raise fail("is not a class", "Annotate it with the message class.")
    if not isinstance(tp, type):
        raise fail(
            "is not a class",
            "The bus routes by type(message): annotate it with the message class "
            "(or a union of classes).",
        )
    found.append(tp)


def _show(tp: Any) -> str:
    return type_name(tp) if isinstance(tp, type) else repr(tp)
