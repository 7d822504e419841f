"""The object ``bus.stream(...)`` returns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

__all__ = ["Stream"]

T_co = TypeVar("T_co", covariant=True)


class Stream(Generic[T_co]):
    """The items of a stream request.

    Iterate it with ``async for``.  To close the handler's generator as soon
    as you stop reading (``break``, an exception, cancellation), so that its
    ``finally`` blocks run right away, use it as a context manager::

        async with bus.stream(ListUsers()) as users:
            async for user in users:
                if user.name == "ada":
                    break  # the handler's generator is closed here

    ``contextlib.aclosing(bus.stream(...))`` does the same.  Without either,
    Python closes an abandoned generator later, from the event loop.
    """

    __slots__ = ("_iterator", "_start")

    def __init__(
        self,
        iterator: AsyncIterator[T_co] | None = None,
        *,
        start: Callable[[], Awaitable[AsyncIterator[T_co]]] | None = None,
    ) -> None:
        self._iterator = iterator
        self._start = start

    def __aiter__(self) -> AsyncIterator[T_co]:
        # Without modifiers this is the handler's own generator: no per-item cost.
        if self._iterator is None:
            self._iterator = self._started()
        return self._iterator

    async def _started(self) -> AsyncIterator[T_co]:
        assert self._start is not None  # set whenever _iterator is not
        source = await self._start()
        try:
            async for item in source:
                yield item
        finally:
            await _close(source)

    async def aclose(self) -> None:
        """Close the handler's generator (running its ``finally`` blocks) if it started."""
        if self._iterator is not None:
            await _close(self._iterator)

    async def __aenter__(self) -> AsyncIterator[T_co]:
        return self.__aiter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


async def _close(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
