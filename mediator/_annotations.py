"""Evaluating the annotation of a handler's message parameter, now or later.

Only the message parameter is evaluated: a handler whose *injected* parameters
are annotated with names imported under ``if TYPE_CHECKING:`` registers fine.
A name that does not exist yet is not an error at registration: the handler
waits, `Unresolved`, until the first dispatch or ``freeze()``, so classes
defined further down the module work.  What the evaluated annotation may be is
checked by `mediator._inspect`.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._names import code_owner

__all__ = ["Unresolved", "evaluate"]


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
    # type checkers do; a namespace object with one annotation evaluates just
    # the message parameter's.
    holder = types.SimpleNamespace(__annotations__={"message": raw})
    try:
        hints = typing.get_type_hints(
            holder, globalns=globalns, localns=localns, include_extras=True
        )
        return hints["message"]
    except NameError as error:
        return Unresolved(getattr(error, "name", None), error)
