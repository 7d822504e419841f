"""Per-type dispatch caches that do not keep message classes alive.

A bus remembers, per concrete message type, what dispatching it runs.  Keyed
by the class itself, a plain dict is the cheapest lookup there is, but it
keeps the class alive: an application creating message classes at run time
would grow the cache without bound.  So the plain dict holds only classes
that live as long as their module anyway (reachable by their qualified name
from it); any other class goes to a `weakref.WeakKeyDictionary`, which
forgets it when it is collected.  Only a miss in the plain dict pays for that.
"""

from __future__ import annotations

import sys
import weakref
from typing import TypeVar

__all__ = ["TypeCache", "is_static", "new_cache", "remember"]

V = TypeVar("V")

#: ``(classes that live with their module, any other class)``.
TypeCache = tuple[dict[type, V], "weakref.WeakKeyDictionary[type, V]"]


def new_cache() -> TypeCache[V]:
    return {}, weakref.WeakKeyDictionary()


def remember(cache: TypeCache[V], tp: type, value: V) -> V:
    """Store ``value`` for ``tp`` in the part of ``cache`` that suits it; return it."""
    strong, weak = cache
    if is_static(tp):
        strong[tp] = value
    else:
        weak[tp] = value
    return value


def is_static(tp: type) -> bool:
    """True if ``tp`` is what its module's namespace holds under its qualified name."""
    try:
        found: object = sys.modules.get(tp.__module__)
        for part in tp.__qualname__.split("."):
            found = getattr(found, part, None)
    except Exception:  # a module or class attribute that refuses to be read
        return False
    return found is tp
