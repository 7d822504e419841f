"""`LocalRequestBus`: one handler per request type, called in place."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar, overload

from ._errors import AmbiguousHandlerError, LookupHandlerStoreError
from ._messages import Request, StreamRequest
from ._names import type_name
from ._pipeline import Runner, build_runner, raise_later
from ._registry import HandlerEntry, RequestHandlerRegistry
from ._routing import nearest
from ._stream import Stream

__all__ = ["LocalRequestBus", "RequestExecutor"]

T = TypeVar("T")


class RequestExecutor:
    """Anything that executes requests (python-mediator's interface)."""

    def execute(self, request: Any, /, **kwargs: Any) -> Coroutine[Any, Any, Any]:
        raise NotImplementedError


class LocalRequestBus(RequestHandlerRegistry, RequestExecutor):
    """Runs each request with its one handler, in the caller's task.

    ``await bus.execute(request, **kwargs)`` returns the handler's result and
    lets its exceptions through unchanged; ``bus.stream(request, **kwargs)``
    iterates a stream handler.  The handler is the one registered for
    ``type(request)`` or, failing that, for its nearest base class.

    Args:
        policies: how registered objects are turned into handlers (default:
            ``[CallableHandlerPolicy()]``, plain functions).
        modifiers: modifier factories wrapped around every handler, outermost.
    """

    def _setup(self) -> None:
        super()._setup()
        self._runners: dict[HandlerEntry, Runner] = {}
        # type(request) -> runner, for exact and inherited matches alike.
        self._call_cache: dict[type, Runner] = {}
        self._stream_cache: dict[type, Runner] = {}

    @overload
    def execute(self, request: Request[T], /, **kwargs: Any) -> Coroutine[Any, Any, T]: ...
    @overload
    def execute(self, request: object, /, **kwargs: Any) -> Coroutine[Any, Any, Any]: ...

    def execute(self, request: object, /, **kwargs: Any) -> Coroutine[Any, Any, Any]:
        """Run the handler of ``request``; await the result.

        Keyword arguments reach the handler parameters of the same name (see
        the README); the handler's exceptions propagate unchanged.

        Raises (when awaited):
            LookupHandlerStoreError: no handler takes this type.
            AmbiguousHandlerError: two equally close base classes have handlers.
            MissingArgumentError: a required handler parameter was not given.
        """
        # Not `async def`: returning the handler's own coroutine saves a frame
        # per call. Errors are still raised when the result is awaited.
        try:
            return self._call_cache[type(request)](request, kwargs)  # type: ignore[no-any-return]
        except KeyError:
            pass  # not cached yet: routed below, so routing errors do not chain this KeyError
        except Exception as error:  # an argument error, raised before the handler ran
            return raise_later(error)
        return self._execute_uncached(request, kwargs)

    def _execute_uncached(
        self, request: object, kwargs: dict[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        try:
            return self._route(type(request), streams=False)(request, kwargs)  # type: ignore[no-any-return]
        except Exception as error:
            return raise_later(error)

    @overload
    def stream(self, request: StreamRequest[T], /, **kwargs: Any) -> Stream[T]: ...
    @overload
    def stream(self, request: object, /, **kwargs: Any) -> Stream[Any]: ...

    def stream(self, request: object, /, **kwargs: Any) -> Stream[Any]:
        """Start the stream handler of ``request`` and return its items.

        Routing and argument errors are raised here, before iteration.
        """
        run = self._stream_cache.get(type(request))
        if run is None:
            run = self._route(type(request), streams=True)
        items = run(request, kwargs)
        return items if isinstance(items, Stream) else Stream(items)

    # -- internals ------------------------------------------------------------

    def _place(self, entries: list[HandlerEntry]) -> None:
        runners = {
            entry: build_runner(entry.handler, entry.modifiers, own_kwargs=False)
            for entry in entries
        }
        super()._place(entries)
        self._runners.update(runners)

    def _changed(self) -> None:
        self._call_cache.clear()
        self._stream_cache.clear()

    def _route(self, tp: type, *, streams: bool) -> Runner:
        self._resolve_pending()
        found = nearest(tp, self._streams if streams else self._calls)
        if len(found) == 1:
            run = self._runners[found[0][1]]
            (self._stream_cache if streams else self._call_cache)[tp] = run
            return run
        if found:
            pairs = " and ".join(
                f"{type_name(cls)} (handled by {entry.handler.described})" for cls, entry in found
            )
            raise AmbiguousHandlerError(
                f"No handler for {type_name(tp)}: it has no handler of its own, and its base "
                f"classes {pairs} are equally close to it. Register a handler for "
                f"{type_name(tp)} itself to choose",
                message_type=tp,
                candidates=[entry.handler for _, entry in found],
            )
        raise self._not_found(tp, streams)

    def _not_found(self, tp: type, streams: bool) -> LookupHandlerStoreError:
        other = nearest(tp, self._calls if streams else self._streams)
        if other:
            handler = other[0][1].handler
            if streams:
                use = (
                    f"it is handled by {handler.described}, which returns a single result: "
                    f"use `await bus.execute(...)` instead of bus.stream()"
                )
            else:
                use = (
                    f"it is handled by the stream handler {handler.described}: iterate "
                    f"`bus.stream(...)` instead of awaiting bus.execute()"
                )
            return LookupHandlerStoreError(
                f"No {'stream ' if streams else ''}handler for {type_name(tp)}: {use}",
                message_type=tp,
            )
        table = self._streams if streams else self._calls
        known = sorted(type_name(t) for t in table)
        shown = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
        namesakes = [t for t in table if t.__qualname__ == tp.__qualname__ and t is not tp]
        hint = (
            f" A handler is registered for another class of the same name, "
            f"{type_name(namesakes[0])}: is the class defined (or imported) twice?"
            if namesakes
            else ""
        )
        kind = "stream handler" if streams else "handler"
        decorator = "an `async def` generator" if streams else "an `async def` function"
        return LookupHandlerStoreError(
            f"No {kind} for {type_name(tp)}. Register {decorator} whose first parameter is "
            f"annotated with {tp.__qualname__} (or a base class of it) using @bus.register. "
            f"Registered: {shown or 'nothing yet'}.{hint}",
            message_type=tp,
        )
