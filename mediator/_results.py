"""Types that only show up in a type checker's error about a request's result.

Given an expected type (``x: int = await bus.execute(GetName())``), mypy infers
the ``T`` of ``execute``'s ``Request[T]`` overload from it, finds that
``GetName`` is no ``Request[int]``, and would fall through to the overload
for untyped messages, whose result is ``Any``: the mistake would pass.  So
``execute`` and ``stream`` have a second, mypy-only overload in between,
typed from the request alone, whose result is one of these classes: no
expected type accepts it, and the error names the request's real result
(``expression has type "RequestResult[str]", variable has type "int"``).
Pyright retries an overload without the expected type and never gets there.

Nothing creates them: at run time ``execute`` returns the handler's coroutine
and ``stream`` a `Stream`, as the first overload says.
"""

from __future__ import annotations

from typing import Generic, TypeVar, final

__all__ = ["RequestResult", "StreamItem"]

T_co = TypeVar("T_co", covariant=True)


@final
class RequestResult(Generic[T_co]):
    """What ``await bus.execute(request)`` gives a ``Request[T]`` in mypy's error: ``T``."""

    __slots__ = ()


@final
class StreamItem(Generic[T_co]):
    """An item of ``bus.stream(request)`` for a ``StreamRequest[T]`` in mypy's error: ``T``."""

    __slots__ = ()
