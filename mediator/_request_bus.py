"""`LocalRequestBus`: one handler per request type, called in the caller's task."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._chain import Call, Modifier, build_call, raise_later
from ._errors import AmbiguousHandlerError, HandlerNotFoundError, MessageClassError
from ._handler import HandlerEntry
from ._messages import Request, StreamRequest
from ._registry import RequestHandlerRegistry
from ._results import RequestResult, StreamItem
from ._routing import nearest
from ._stream import Stream, StreamOpener, stream_opener
from ._type_cache import TypeCache, new_cache, remember

if TYPE_CHECKING:
    from ._policies import Policy

__all__ = ["LocalRequestBus"]

T = TypeVar("T")


class LocalRequestBus(RequestHandlerRegistry):
    """Runs each request with its one handler, in the caller's task.

    ``await bus.execute(request, **kwargs)`` returns the handler's result and
    lets its exceptions through unchanged; ``bus.stream(request, **kwargs)``
    iterates a stream handler.  The handler is the one registered for
    ``type(request)`` or, failing that, for its nearest base class.

    Args:
        policies: how registered objects are turned into handlers (default:
            ``[CallableHandlerPolicy()]``, the object is the handler).
        modifiers: modifiers wrapped around every handler, outermost.
    """

    def __init__(
        self,
        policies: Sequence[Policy] | None = None,
        *,
        modifiers: Sequence[Modifier] | None = (),
    ) -> None:
        super().__init__(policies, modifiers=modifiers)
        self._calls: dict[HandlerEntry, Call] = {}
        self._openers: dict[HandlerEntry, StreamOpener] = {}
        # type(request) -> what runs it, for exact and inherited matches alike.
        self._calls_by_type: TypeCache[Call] = new_cache()
        self._openers_by_type: TypeCache[StreamOpener] = new_cache()
        self._call_cache = self._calls_by_type[0]  # the hot paths' dicts
        self._stream_cache = self._openers_by_type[0]

    # The middle overloads of `execute` and `stream` are for mypy: given an expected type
    # (`x: int = await ...`), it takes `T` from that and, if the request's result does not
    # fit, would fall through to the `Any` overload.  Typed from the request alone, the middle
    # one turns that into an error (see _results).
    @overload
    def execute(  # pyright: ignore[reportOverlappingOverload]
        self, request: Request[T], /, **kwargs: Any
    ) -> Coroutine[Any, Any, T]: ...
    @overload
    def execute(  # type: ignore[overload-cannot-match]
        self, request: Request[T], /, **kwargs: Any
    ) -> Coroutine[Any, Any, RequestResult[T]]: ...
    @overload
    def execute(self, request: object, /, **kwargs: Any) -> Coroutine[Any, Any, Any]: ...

    def execute(self, request: object, /, **kwargs: Any) -> Coroutine[Any, Any, Any]:
        """Run the handler of ``request``; await the result.

        Keyword arguments reach the handler parameters of the same name; the
        handler's exceptions propagate unchanged.

        Raises (when awaited):
            HandlerNotFoundError: no handler takes this type.
            AmbiguousHandlerError: two equally close base classes have handlers.
            MissingArgumentError: a required handler parameter was not given.
        """
        # Not `async def`: returning the handler's own coroutine saves a frame
        # per call.  Errors are still raised when the result is awaited.
        try:
            return self._call_cache[type(request)](request, kwargs)  # type: ignore[return-value]
        except KeyError:
            pass  # not cached yet: routed below, so routing errors do not chain this KeyError
        except Exception as error:  # an argument error, raised before the handler ran
            return raise_later(error)
        try:
            call = self._calls_by_type[1].get(type(request)) or self._route(type(request), request)
            return call(request, kwargs)  # type: ignore[return-value]
        except Exception as error:
            return raise_later(error)

    @overload
    def stream(  # pyright: ignore[reportOverlappingOverload]
        self, request: StreamRequest[T], /, **kwargs: Any
    ) -> Stream[T]: ...
    @overload
    def stream(  # type: ignore[overload-cannot-match]
        self, request: StreamRequest[T], /, **kwargs: Any
    ) -> Stream[StreamItem[T]]: ...
    @overload
    def stream(self, request: object, /, **kwargs: Any) -> Stream[Any]: ...

    def stream(self, request: object, /, **kwargs: Any) -> Stream[Any]:
        """Start the stream handler of ``request`` and return its items.

        Routing and argument errors are raised here, before iteration.
        """
        open_ = self._stream_cache.get(type(request))
        if open_ is None:
            open_ = self._openers_by_type[1].get(type(request)) or self._route_stream(
                type(request), request
            )
        return open_(request, kwargs)

    # -- internals ------------------------------------------------------------

    def _accept(self, entries: Sequence[HandlerEntry]) -> None:
        calls: dict[HandlerEntry, Call] = {}
        openers: dict[HandlerEntry, StreamOpener] = {}
        for entry in entries:
            if entry.handler.kind == "stream":
                openers[entry] = stream_opener(entry.handler, entry.modifiers, self._providers)
            else:
                calls[entry] = build_call(
                    entry.handler, entry.modifiers, copy_kwargs=False, providers=self._providers
                )
        self._calls.update(calls)
        self._openers.update(openers)

    def _routes_changed(self) -> None:
        self._calls_by_type = new_cache()
        self._openers_by_type = new_cache()
        self._call_cache = self._calls_by_type[0]
        self._stream_cache = self._openers_by_type[0]

    def _route(self, tp: type, message: object) -> Call:
        self._resolve_pending()
        cache = self._calls_by_type  # before the tables: see HandlerRegistry._routes_changed
        return remember(cache, tp, self._calls[self._find(tp, stream=False, message=message)])

    def _route_stream(self, tp: type, message: object) -> StreamOpener:
        self._resolve_pending()
        cache = self._openers_by_type
        return remember(cache, tp, self._openers[self._find(tp, stream=True, message=message)])

    def _find(self, tp: type, *, stream: bool, message: object = None) -> HandlerEntry:
        table, other = (
            (self._stream_table, self._table) if stream else (self._table, self._stream_table)
        )
        found = nearest(tp, table)
        if isinstance(message, type) and (not found or found[0][0] is object):
            # `execute(GetUser)`: nothing is registered for its metaclass.
            raise MessageClassError(message, call="stream" if stream else "execute")
        if len(found) == 1:
            return found[0][1]
        if found:
            raise AmbiguousHandlerError(
                tp,
                bases=[cls for cls, _ in found],
                candidates=[entry.handler for _, entry in found],
                stream=stream,
            )
        elsewhere = nearest(tp, other)
        namesakes = [t for t in table if t.__qualname__ == tp.__qualname__ and t is not tp]
        raise HandlerNotFoundError(
            tp,
            stream=stream,
            registered=list(table),
            other=elsewhere[0][1].handler if elsewhere else None,
            namesake=namesakes[0] if namesakes else None,
        )
