"""Evaluating the annotation of a handler's message parameter, now or later.

Only the message parameter is evaluated: a handler whose *injected* parameters
are annotated with names imported under ``if TYPE_CHECKING:`` registers fine.
A name that does not exist yet is not an error at registration: the handler
waits, `Unresolved`, until the first dispatch or ``freeze()``, so classes
defined further down the module work.  What the evaluated annotation may be is
checked by `mediator._inspect`.

A string annotation is evaluated in the module the handler was defined in
and, when the handler was defined in the function that registers it, in that
function's local variables too (`Caller`): so ``async def on(event: Local)``
next to a ``class Local`` works in a test function, and a handler from another
module never resolves to a class of the same name that happens to be in scope
where it is registered.  Nothing keeps that function's frame or its local
variables alive: a pending handler keeps only the local names its annotation
uses.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ForwardRef

from ._names import code_owner

__all__ = ["Caller", "Unresolved", "closest_class", "evaluate", "module_namespace"]


@dataclass(frozen=True, slots=True)
class Unresolved:
    """An annotation that names something missing at run time (for now).

    It keeps no exception: a ``NameError``'s traceback holds the frames of the
    registration, and through them every local variable of the code that
    registered the handler.
    """

    #: The missing name (None if Python did not say).
    name: str | None
    #: The ``NameError`` message.
    detail: str
    #: The local variables of the defining function that the annotation names:
    #: what evaluating it later needs besides the module namespace.
    localns: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    #: The names (only) of the classes local to that function, for suggestions.
    local_classes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Caller:
    """The function that called ``register``: its code's qualified name, module, locals.

    ``namespace`` is a copy of its local variables, taken when ``register`` was
    called: the frame itself is not kept.
    """

    qualname: str
    globals: Mapping[str, Any]
    namespace: Mapping[str, Any]

    def namespace_of(self, fn: Any) -> Mapping[str, Any] | None:
        """The locals to evaluate ``fn``'s annotations in: only if ``fn`` was defined here.

        ``fn`` was defined by this function if its code's qualified name is
        ``<this function>.<locals>.name`` (or, for a method of a class defined
        here, ``<this function>.<locals>.Class.name``) in the same module.
        """
        owner = code_owner(fn)
        try:
            code = getattr(owner, "__code__", None)
            qualname = getattr(code, "co_qualname", None) or getattr(owner, "__qualname__", None)
            same_module = getattr(owner, "__globals__", None) is self.globals
        except Exception:  # an attribute that raises: not ours to resolve
            return None
        if not same_module or not isinstance(qualname, str):
            return None
        prefix = f"{self.qualname}.<locals>."
        if not qualname.startswith(prefix) or "<locals>" in qualname[len(prefix) :]:
            return None
        return self.namespace


def module_namespace(fn: Any) -> dict[str, Any]:
    """The globals of the module ``fn`` was defined in (empty if it has none)."""
    try:
        namespace = getattr(code_owner(fn), "__globals__", None)
    except Exception:
        return {}
    return namespace if isinstance(namespace, dict) else {}


def evaluate(fn: Any, raw: Any, localns: Mapping[str, Any] | None = None) -> Any:
    """Evaluate a (possibly string) annotation in the namespace ``fn`` was defined in.

    ``localns`` is the namespace of the function that defined and registered
    ``fn``, for string annotations naming classes local to it.  Returns
    `Unresolved` when a name is missing; other failures propagate.
    """
    globalns = module_namespace(fn)
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
        name = getattr(error, "name", None)
        kept: dict[str, Any] | None = None
        classes: tuple[str, ...] = ()
        if localns:
            used = _names_in(raw)
            kept = {key: value for key, value in localns.items() if key in used} or None
            classes = tuple(key for key, value in localns.items() if isinstance(value, type))
        # Not the error itself: its traceback would keep the frames alive.
        return Unresolved(name if isinstance(name, str) else None, str(error), kept, classes)


def _names_in(annotation: Any) -> set[str]:
    """The names a (possibly string, possibly nested) annotation refers to."""
    found: set[str] = set()
    seen: set[int] = set()

    def visit(value: Any) -> None:
        if id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, str):
            try:
                tree = ast.parse(value, mode="eval")
            except SyntaxError:
                return
            for node in ast.walk(tree):
                if isinstance(node, ast.Name):
                    found.add(node.id)
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    visit(node.value)  # a forward reference inside the string
        elif isinstance(value, ForwardRef):
            visit(value.__forward_arg__)
        else:
            for argument in typing.get_args(value):
                visit(argument)

    visit(annotation)
    return found


def closest_class(
    name: str, namespaces: Iterable[Mapping[str, Any] | None], names: Iterable[str] = ()
) -> str | None:
    """The class in ``namespaces`` (or among ``names``, or builtins) named closest to ``name``.

    The likely fix of a typo: ``Pnig`` -> ``Ping``.  Builtins must be closer:
    they are rarely message classes.
    """
    candidates: set[str] = set(names)
    for namespace in namespaces:
        if not namespace:
            continue
        try:
            candidates.update(key for key, value in namespace.items() if isinstance(value, type))
        except Exception:  # a namespace that cannot be read: suggest from the others
            continue
    candidates.discard(name)
    builtin = {key for key, value in vars(builtins).items() if isinstance(value, type)}
    for pool, cutoff in ((candidates, 0.6), (builtin - {name}, 0.8)):
        ordered = sorted(pool)
        matches = difflib.get_close_matches(name, ordered, n=1, cutoff=cutoff)
        matches = matches or [key for key in ordered if key.lower() == name.lower()]
        if matches:
            return matches[0]
    return None
