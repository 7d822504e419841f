"""How handlers, objects and message types are named in errors, logs and reprs.

Every message the library prints points at user code: a qualified name a
reader can grep for and, for handlers, the ``file:line`` an editor can jump to.
Naming never raises: it runs while an error is being reported.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Any

__all__ = [
    "callable_name",
    "code_owner",
    "describe",
    "object_name",
    "show_public_path",
    "source_location",
    "type_name",
]


def type_name(tp: object) -> str:
    """``module.QualName`` for classes (builtins stay bare), ``repr`` for anything else."""
    if isinstance(tp, type):
        try:
            module, qualname = getattr(tp, "__module__", None), getattr(tp, "__qualname__", None)
        except Exception:  # a metaclass whose attributes raise
            return object.__repr__(tp)
        if not isinstance(qualname, str):
            return _safe_repr(tp)
        if module == "builtins" or not isinstance(module, str):
            return qualname
        return f"{module}.{qualname}"
    return _safe_repr(tp)


def _safe_repr(obj: object) -> str:
    try:
        text = repr(obj)
    except Exception:  # a broken __repr__ must not hide the error being reported
        return object.__repr__(obj)
    return text if len(text) <= 80 else f"{text[:77]}..."


def code_owner(fn: Any) -> Any:
    """The plain function whose code object runs when ``fn`` is called."""
    try:
        for _ in range(100):  # guards against self-referencing __wrapped__ chains
            if isinstance(fn, functools.partial):
                fn = fn.func
            elif inspect.ismethod(fn):
                fn = fn.__func__
            elif hasattr(fn, "__wrapped__"):
                fn = fn.__wrapped__
            elif not inspect.isfunction(fn) and not isinstance(fn, type) and callable(fn):
                call = getattr(type(fn), "__call__", None)  # noqa: B004 - the class attribute
                if call is None or inspect.isbuiltin(call) or call is fn:
                    return fn
                fn = call
            else:
                return fn
    except Exception:  # an attribute that raises: this is as far as it goes
        return fn
    return fn


def callable_name(fn: Any) -> str:
    """``module.QualName`` of a function, bound method, partial or callable object."""
    try:
        if isinstance(fn, functools.partial):
            return f"functools.partial({callable_name(fn.func)})"
        qualname = getattr(fn, "__qualname__", None)
        module = getattr(fn, "__module__", None)
        if isinstance(qualname, str) and (inspect.isroutine(fn) or isinstance(fn, type)):
            return f"{module}.{qualname}" if isinstance(module, str) and module else qualname
        return f"{type_name(type(fn))}.__call__"
    except Exception:  # an attribute that raises
        return object.__repr__(fn)


def object_name(obj: Any) -> str:
    """`callable_name` for callables and classes, a short ``repr`` for anything else."""
    return callable_name(obj) if callable(obj) else _safe_repr(obj)


def source_location(fn: Any) -> str | None:
    """``path:line`` where ``fn`` is defined, relative to the working directory when below it."""
    try:
        code = getattr(code_owner(fn), "__code__", None)
    except Exception:
        return None
    if code is None:
        return None
    path: str = code.co_filename
    try:
        relative = os.path.relpath(path)
    except (ValueError, OSError):  # another drive on Windows; a deleted working directory
        relative = os.pardir
    if not relative.startswith(os.pardir):
        path = relative
    return f"{path}:{code.co_firstlineno}"


def describe(fn: Any) -> str:
    """``module.QualName (path:line)``: the form every error uses to name a handler."""
    try:
        location = source_location(fn) if callable(fn) else None
        name = object_name(fn)
    except Exception:  # an object whose attributes raise: still name it somehow
        return object.__repr__(fn)
    return f"{name} ({location})" if location else name


def show_public_path(namespace: dict[str, Any], module: str) -> None:
    """Name the public module, not the private one, in reprs and tracebacks.

    ``mediator.PublishError`` rather than ``mediator._errors.PublishError``:
    the private modules are not part of the API.  The first public module to
    claim a class names it.
    """
    for name in namespace["__all__"]:
        value = namespace[name]
        if isinstance(value, type) and value.__module__.startswith("mediator._"):
            value.__module__ = module
