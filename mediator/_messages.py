"""Optional generic bases that give ``execute`` and ``stream`` a result type."""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Request", "StreamRequest"]

T_co = TypeVar("T_co", covariant=True)


class Request(Generic[T_co]):
    """Base for a request whose handler returns ``T``: ``await bus.execute(req)`` is typed ``T``.

    It only informs type checkers: it adds no attributes or slots, so it fits
    dataclasses (slotted or not) and any other class::

        @dataclass
        class GetUser(Request[User]):
            user_id: int
    """

    __slots__ = ()


class StreamRequest(Generic[T_co]):
    """Base for a stream request yielding ``T``: ``bus.stream(req)`` iterates ``T``."""

    __slots__ = ()
