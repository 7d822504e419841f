"""How handlers and message types are named in errors, logs and reprs.

Every message the library prints points at user code: a qualified name a
reader can grep for and, for handlers, the ``file:line`` an editor can jump to.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Any


def type_name(tp: object) -> str:
    """``module.QualName`` for classes (builtins stay bare), ``repr`` for anything else."""
    if isinstance(tp, type):
        if tp.__module__ == "builtins":
            return tp.__qualname__
        return f"{tp.__module__}.{tp.__qualname__}"
    return repr(tp)


def code_owner(fn: Any) -> Any:
    """The plain function whose code object runs when ``fn`` is called."""
    seen = 0
    while seen < 100:  # guards against self-referencing __wrapped__ chains
        seen += 1
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif inspect.ismethod(fn):
            fn = fn.__func__
        elif hasattr(fn, "__wrapped__"):
            fn = fn.__wrapped__
        elif not inspect.isfunction(fn) and not isinstance(fn, type) and callable(fn):
            call = getattr(type(fn), "__call__", None)  # noqa: B004 - we want the class attribute
            if call is None or inspect.isbuiltin(call) or call is fn:
                return fn
            fn = call
        else:
            return fn
    return fn


def callable_name(fn: Any) -> str:
    """``module.QualName`` of a function, bound method, partial or callable object."""
    if isinstance(fn, functools.partial):
        return f"functools.partial({callable_name(fn.func)})"
    qualname = getattr(fn, "__qualname__", None)
    module = getattr(fn, "__module__", None)
    if isinstance(qualname, str) and (inspect.isroutine(fn) or isinstance(fn, type)):
        return f"{module}.{qualname}" if module else qualname
    cls = type(fn)
    return f"{cls.__module__}.{cls.__qualname__}.__call__"


def source_location(fn: Any) -> str | None:
    """``path:line`` where ``fn`` is defined, relative to the working directory when below it."""
    owner = code_owner(fn)
    code = getattr(owner, "__code__", None)
    if code is None:
        return None
    path: str = code.co_filename
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        relative = path
    if not relative.startswith(os.pardir):
        path = relative
    return f"{path}:{code.co_firstlineno}"


def describe(fn: Any) -> str:
    """``module.QualName (path:line)``: the form every error uses to name a handler."""
    location = source_location(fn)
    name = callable_name(fn)
    return f"{name} ({location})" if location else name
