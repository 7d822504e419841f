"""`mediator.modifiers.trace`, the part that needs OpenTelemetry's API.

Imported by ``trace()`` only, so that importing `mediator.modifiers` never
imports OpenTelemetry.  A span's context is attached around the handler's
call, and for a stream around each step of its generator, never across a
``yield`` to the consumer: attaching in one step and detaching in another
would leak the span into the consumer's code, or fail when the steps run in
different contexts (asyncio and trio give each task its own).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from . import __version__
from ._names import callable_name, code_owner, type_name
from ._type_cache import TypeCache, new_cache, remember
from .modifiers import _Watched

if TYPE_CHECKING:
    from ._chain import Middleware, Next
    from ._handler import Handler

__all__ = ["traced"]

#: The span name and attributes of one (handler, message type).
_Naming = tuple[str, dict[str, Any]]

_attach = otel_context.attach
_detach = otel_context.detach
_in_context = otel_trace.set_span_in_context


def traced(tracer: Tracer | None) -> Middleware:
    """The `trace` middleware over ``tracer`` (default: the global provider's, looked up late)."""
    if tracer is None:
        # A proxy until a provider is set, then the provider's tracer: set it any time.
        tracer = otel_trace.get_tracer("mediator", __version__)
        label = "trace()"
    else:
        _check(tracer)
        label = f"trace(tracer={type_name(type(tracer))})"
    start_span = tracer.start_span
    # Per handler (forgotten with it), per message type (a class made at run time too).
    known: weakref.WeakKeyDictionary[Handler, TypeCache[_Naming]] = weakref.WeakKeyDictionary()

    def naming(handler: Handler, message_type: type) -> _Naming:
        cache = known.get(handler)
        if cache is None:
            cache = known[handler] = new_cache()
        found = cache[0].get(message_type)
        if found is None:
            found = cache[1].get(message_type)
            if found is None:
                found = remember(cache, message_type, _name(handler, message_type))
        return found

    async def traced_call(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        handler = call_next.handler
        name, attributes = naming(handler, type(message))
        span = start_span(name, attributes=attributes)
        context = _in_context(span)
        token = _attach(context)
        try:
            result = await call_next(message, kwargs)
        except Exception as error:
            _failed(span, error)
            span.end()
            raise
        except BaseException:
            span.end()
            raise
        finally:
            _detach(token)
        if handler.kind == "stream":
            return _TracedItems(result, span, context)
        span.end()
        return result

    traced_call.__qualname__ = label
    return traced_call


def _check(tracer: object) -> None:
    if callable(getattr(tracer, "start_span", None)):
        return
    if callable(getattr(tracer, "get_tracer", None)):
        raise TypeError(
            "trace(tracer=...) takes a Tracer, and this is a TracerProvider: pass "
            "trace(tracer=provider.get_tracer(__name__))"
        )
    raise TypeError(
        f"trace(tracer=...) takes an opentelemetry.trace.Tracer, not {tracer!r}; "
        f"e.g. trace(tracer=provider.get_tracer(__name__)), or trace() for the global one"
    )


def _name(handler: Handler, message_type: type) -> _Naming:
    attributes: dict[str, Any] = {
        "mediator.message_type": type_name(message_type),
        "mediator.handler": handler.name,
        "mediator.handler_kind": handler.kind,
        "code.function.name": callable_name(handler.fn),
    }
    code = getattr(code_owner(handler.fn), "__code__", None)
    if code is not None:
        attributes["code.file.path"] = code.co_filename
        attributes["code.line.number"] = code.co_firstlineno
    return message_type.__qualname__, attributes


def _failed(span: Span, error: BaseException) -> None:
    span.record_exception(error)
    span.set_attribute("error.type", type_name(type(error)))
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


class _TracedItems(_Watched):
    """A stream's items, each produced with the span current; the span ends with them."""

    __slots__ = ("_context", "_span")

    def __init__(self, items: AsyncIterator[Any], span: Span, context: Any) -> None:
        super().__init__(items)
        self._span = span
        self._context = context

    async def __anext__(self) -> Any:
        token = _attach(self._context)
        try:
            return await _Watched.__anext__(self)
        finally:
            _detach(token)

    async def aclose(self) -> None:
        token = _attach(self._context)
        try:
            await _Watched.aclose(self)
        finally:
            _detach(token)

    def _ended(self, outcome: str, error: BaseException | None) -> None:
        if outcome == "error" and error is not None:
            _failed(self._span, error)
        self._span.end()
