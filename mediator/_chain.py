"""The one call shape, and the middleware chain composed around a handler.

Everything the bus runs for a message is a `Call`: ``call(message, kwargs)``
returns an awaitable of the result.  A compiled handler is one
(`mediator._invoke`), each link of a middleware chain is one, and so is the
delivery of an event to its handlers (`mediator._delivery`).

A chain is built once per handler, when the handler is added to a bus, the
way starlette builds its middleware stack: each modifier becomes a `Layer`
that wraps the rest of the chain, folded from the handler outwards.  A run
of python-mediator modifier factories becomes a single layer
(`mediator._legacy.factory_layer`), so a handler without factories carries
no trace of that model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from ._invoke import compile_call
from ._legacy import ModifierFactory, factory_layer, is_factory

if TYPE_CHECKING:
    from ._handler import Handler

__all__ = [
    "Call",
    "Layer",
    "Middleware",
    "Modifier",
    "Next",
    "build_call",
    "compose",
    "raise_later",
]

#: ``call(message, kwargs)`` -> an awaitable of the result.
Call = Callable[[Any, dict[str, Any]], Awaitable[Any]]


class Next(Protocol):
    """What a middleware calls to go on: the next middleware, or the handler itself.

    ``await call_next(message, kwargs)`` returns the handler's result (for a
    stream handler: the async iterator of its items); ``call_next.handler`` is
    the `mediator.Handler` at the end of the chain.
    """

    @property
    def handler(self) -> Handler: ...

    def __call__(self, message: Any, kwargs: dict[str, Any], /) -> Awaitable[Any]: ...


#: A middleware function: ``async def middleware(message, kwargs, call_next)``.
#: It returns the result, usually ``await call_next(message, kwargs)``; to change
#: the keyword arguments, pass a new dict rather than editing ``kwargs``.
Middleware = Callable[[Any, dict[str, Any], Next], Awaitable[Any]]

#: What ``modifiers=`` takes: middleware functions and python-mediator's
#: modifier factories, mixed.
Modifier = Middleware | ModifierFactory

#: ``layer(call_next, copy)`` -> this layer's call, built once per handler.
#: ``copy``: the layer is outermost in an event handler's chain and must give
#: the rest of the chain its own copy of the keyword arguments, so that one
#: handler's middleware cannot change what the next handler receives.
Layer = Callable[[Next, bool], Call]


def build_call(handler: Handler, modifiers: Sequence[Modifier], *, copy_kwargs: bool) -> Call:
    """The handler's call, wrapped in its modifiers (``modifiers[0]`` outermost)."""
    endpoint = compile_call(handler)
    if not modifiers:
        return endpoint
    layers: list[Layer] = []
    factories: list[ModifierFactory] = []
    for modifier in modifiers:
        if is_factory(modifier):
            factories.append(modifier)  # type: ignore[arg-type] # is_factory checked it
            continue
        if factories:
            layers.append(factory_layer(tuple(factories), handler))
            factories = []
        layers.append(middleware_layer(modifier))  # type: ignore[arg-type] # not a factory
    if factories:
        layers.append(factory_layer(tuple(factories), handler))
    return compose(layers, endpoint, handler, copy_kwargs=copy_kwargs)


def compose(
    layers: Sequence[Layer], endpoint: Call, handler: Handler, *, copy_kwargs: bool
) -> Call:
    """Fold ``layers`` around ``endpoint``, ``layers[0]`` outermost."""
    call = _named(endpoint, handler)
    for index in range(len(layers) - 1, -1, -1):
        call = _named(layers[index](call, copy_kwargs and index == 0), handler)
    return call


def middleware_layer(middleware: Middleware) -> Layer:
    def layer(call_next: Next, copy: bool) -> Call:
        if copy:

            def link_copying(message: Any, kwargs: dict[str, Any]) -> Awaitable[Any]:
                return middleware(message, dict(kwargs), call_next)

            return link_copying

        def link(message: Any, kwargs: dict[str, Any]) -> Awaitable[Any]:
            return middleware(message, kwargs, call_next)

        return link

    return layer


def _named(call: Any, handler: Handler) -> Next:
    """``call`` (a function of ours) with ``.handler``: what ``call_next.handler`` reads."""
    call.handler = handler
    return call  # type: ignore[no-any-return]


async def raise_later(error: BaseException) -> NoReturn:
    """A coroutine that raises ``error``: ``execute`` and ``publish`` errors surface when
    awaited, as they would from an ``async def``."""
    raise error
