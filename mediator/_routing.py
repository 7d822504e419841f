"""Which registered handlers a concrete message type reaches.

Pure functions over ``{type: [values]}`` tables; the buses cache their answers
per concrete type, so these run once per type (and again only after a
registration changes the tables).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

__all__ = ["along_mro", "nearest"]

V = TypeVar("V")


def nearest(tp: type, table: Mapping[type, Sequence[V]]) -> list[tuple[type, V]]:
    """The ``(class, value)`` pairs registered for the classes closest to ``tp``.

    ``table`` maps each class to its values (one, for requests); the answer
    pairs a class with its first value.  ``tp`` itself is at distance 0, its
    ``__bases__`` at 1, and so on (breadth first, each class counted at its
    shortest distance).  More than one pair in the answer means an ambiguity:
    two bases equally close to ``tp``, each with its own handler.  A handler
    registered for several of those bases (a union annotation) counts once,
    not as an ambiguity.  ``object`` is the last resort, never a tie: it is
    chosen only when no other class of the hierarchy has a value.
    """
    own = table.get(tp)
    if own:
        return [(tp, own[0])]
    level: list[type] = [tp]
    seen = {tp, object}
    while level:
        following: list[type] = []
        for cls in level:
            for base in cls.__bases__:
                if base not in seen:
                    seen.add(base)
                    following.append(base)
        found: list[tuple[type, V]] = []
        for cls in following:
            values = table.get(cls)
            if values and not any(values[0] is other for _, other in found):
                found.append((cls, values[0]))
        if found:
            return found
        level = following
    fallback = table.get(object) if tp is not object else None
    return [(object, fallback[0])] if fallback else []


def along_mro(tp: type, table: Mapping[type, Iterable[V]]) -> list[V]:
    """Every value registered for a class in ``tp.__mro__``, most specific class first.

    Within one class, values keep their order; a value reached through several
    classes (a union annotation) appears once, at its first position.
    """
    found: list[V] = []
    seen: set[int] = set()
    for cls in tp.__mro__:
        for value in table.get(cls, ()):
            if id(value) not in seen:
                seen.add(id(value))
                found.append(value)
    return found
