"""The object ``bus.stream(...)`` returns, and how a stream handler is opened."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._chain import build_call, provided_names
from ._invoke import compile_missing_check, compile_opener
from ._providers import needed

if TYPE_CHECKING:
    from ._chain import Modifier
    from ._handler import Handler
    from ._providers import Provider

__all__ = ["Stream", "StreamOpener", "stream_opener"]

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

    ``contextlib.aclosing(bus.stream(...))`` does the same.  Closing also
    finishes the handler's `around` middleware, innermost first, after the
    handler's own ``finally`` blocks.  Without either, Python closes an
    abandoned generator later, from the event loop.
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
        """Close the handler's generator (running its ``finally`` blocks) if it started.

        Then the `around` middleware of the handler finish, innermost first.
        """
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


#: ``open(request, kwargs)`` -> the `Stream` of one ``bus.stream()`` call.
StreamOpener = Callable[[Any, dict[str, Any]], Stream[Any]]


def stream_opener(
    handler: Handler, modifiers: Sequence[Modifier], providers: Mapping[str, Provider]
) -> StreamOpener:
    """How ``bus.stream()`` starts this handler.

    Without modifiers the `Stream` iterates the handler's own generator, so an
    item costs what it costs without the bus, and argument errors are raised
    by ``bus.stream()`` itself.  With modifiers (or providers, whose setup is
    async and whose teardown follows the iteration) the chain runs (it is
    awaitable) when iteration starts; a required argument missing from the
    call (and not declared by an `around` middleware's ``provides``) is still
    raised by ``bus.stream()``, checked before the chain is started.  A modifier
    factory may add any argument to ``action.inject``, so a chain with one is
    not checked: the handler's binding reports what is missing, at the first
    item, as before.
    """
    filled = needed(handler, providers)
    if not modifiers and not filled:
        open_ = compile_opener(handler)
        return lambda request, kwargs: Stream(open_(request, kwargs))
    chain = build_call(handler, modifiers, copy_kwargs=False, providers=providers)
    provided = provided_names(modifiers)
    if provided is not None:
        provided |= frozenset(filled)
    check = compile_missing_check(handler, provided) if provided is not None else None
    if check is None:
        return lambda request, kwargs: Stream(start=functools.partial(chain, request, kwargs))

    def open_checked(request: Any, kwargs: dict[str, Any]) -> Stream[Any]:
        check(kwargs)
        return Stream(start=functools.partial(chain, request, kwargs))

    return open_checked
