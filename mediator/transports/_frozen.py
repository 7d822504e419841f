"""`builder`: frozen dataclasses made on the hot path without their ``__init__``.

A frozen dataclass's ``__init__`` sets each field through
``object.__setattr__``, which costs about twice what the object is worth
when one is made per event (an envelope, an entry, a delivery).  With
``slots=True`` each field is a slot whose descriptor sets it directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["builder"]

_T = TypeVar("_T")


def builder(cls: type[_T]) -> Callable[..., _T]:
    """A function taking every field of ``cls`` positionally, in order, returning an instance.

    No defaults and no ``__post_init__``: for the library's own calls, which
    pass every field.
    """
    dataclass = dataclasses.is_dataclass(cls)
    names = [field.name for field in dataclasses.fields(cls)] if dataclass else []  # type: ignore[arg-type]
    if not names or list(getattr(cls, "__slots__", ())) != names or hasattr(cls, "__post_init__"):
        raise TypeError(
            f"builder({cls.__qualname__}): not a slotted dataclass without __post_init__"
        )
    setters = [getattr(cls, name).__set__ for name in names]
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    namespace.update({f"set_{i}": setter for i, setter in enumerate(setters)})
    body = "".join(f"    set_{i}(o, {name})\n" for i, name in enumerate(names))
    exec(f"def build({', '.join(names)}):\n    o = new(cls)\n{body}    return o\n", namespace)
    build: Callable[..., _T] = namespace["build"]
    build.__qualname__ = f"builder({cls.__qualname__})"
    return build
