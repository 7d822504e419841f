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

`around` makes the other form of middleware, an async generator that yields
the result once; `AroundMiddleware` keeps it suspended at its ``yield`` for
as long as the call lasts, which for a stream handler is its whole iteration.
"""

from __future__ import annotations

import inspect
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, final, overload

from ._invoke import compile_call
from ._legacy import ModifierFactory, factory_layer, is_factory
from ._names import describe
from ._providers import Provider, provision

if TYPE_CHECKING:
    from ._handler import Handler

__all__ = [
    "AroundMiddleware",
    "Call",
    "Layer",
    "Middleware",
    "Modifier",
    "Next",
    "around",
    "build_call",
    "compose",
    "raise_later",
]

#: ``call(message, kwargs)`` -> an awaitable of the result.
Call = Callable[[Any, dict[str, Any]], Awaitable[Any]]

_NO_PROVIDERS: Mapping[str, Provider] = MappingProxyType({})


class Next(Protocol):
    """What a middleware calls to go on: the next middleware, or the handler itself.

    ``await call_next(message, kwargs)`` returns the handler's result;
    ``call_next.handler`` is the `mediator.Handler` at the end of the chain.
    For a stream handler (``call_next.handler.kind == "stream"``) the result is
    the async iterator of its items, returned before any item is produced: code
    that must span the iteration (closing a session, stopping a timer) belongs
    in an `around` middleware.
    """

    @property
    def handler(self) -> Handler: ...

    def __call__(self, message: Any, kwargs: dict[str, Any], /) -> Awaitable[Any]: ...


#: A middleware function: ``async def middleware(message, kwargs, call_next)``.
#: It returns the result, usually ``await call_next(message, kwargs)``; to change
#: the keyword arguments, pass a new dict rather than editing ``kwargs``.  An
#: `AroundMiddleware` (made by `around`) is one too.
Middleware = Callable[[Any, dict[str, Any], Next], Awaitable[Any]]

#: What `around` decorates: ``async def middleware(message, kwargs, call_next)``
#: that yields once.
_AroundFunction = Callable[[Any, dict[str, Any], Next], AsyncIterator[Any]]

#: What ``modifiers=`` takes: middleware functions and python-mediator's
#: modifier factories, mixed.
Modifier = Middleware | ModifierFactory

#: ``layer(call_next, copy)`` -> this layer's call, built once per handler.
#: ``copy``: the layer is outermost in an event handler's chain and must give
#: the rest of the chain its own copy of the keyword arguments, so that one
#: handler's middleware cannot change what the next handler receives.
Layer = Callable[[Next, bool], Call]


def build_call(
    handler: Handler,
    modifiers: Sequence[Modifier],
    *,
    copy_kwargs: bool,
    providers: Mapping[str, Provider] = _NO_PROVIDERS,
) -> Call:
    """The handler's call, wrapped in its modifiers (``modifiers[0]`` outermost).

    Providers are filled at the handler's end of the chain, so a middleware
    sees the call's own keyword arguments.
    """
    endpoint = provision(handler, compile_call(handler), providers)
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


def provided_names(modifiers: Sequence[Modifier]) -> frozenset[str] | None:
    """The keyword arguments ``modifiers`` declare they add (`around`'s ``provides``).

    None if a modifier factory is among them: its ``action.inject`` may add any
    argument, and it has no way to say which.
    """
    names: set[str] = set()
    for modifier in modifiers:
        if isinstance(modifier, AroundMiddleware):
            names |= modifier.provides
        elif is_factory(modifier):
            return None
    return frozenset(names)


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


# -- around: middleware that spans the whole call ---------------------------------


@overload
def around(function: _AroundFunction, /, *, provides: Iterable[str] = ()) -> AroundMiddleware: ...
@overload
def around(*, provides: Iterable[str] = ()) -> Callable[[_AroundFunction], AroundMiddleware]: ...


def around(
    function: _AroundFunction | None = None, /, *, provides: Iterable[str] = ()
) -> AroundMiddleware | Callable[[_AroundFunction], AroundMiddleware]:
    """Make a middleware from an async generator that yields the result once.

    Write ``yield`` where a middleware function writes ``return``::

        @around
        async def timed(message, kwargs, call_next):
            started = time.perf_counter()
            try:
                yield await call_next(message, kwargs)
            finally:
                print(time.perf_counter() - started)

    The code after ``yield`` runs when the call is over: for a request or an
    event handler, once the handler has returned (before the caller gets the
    result); for a stream handler, once its iteration is over (the handler's
    generator has finished, raised or been closed: ``break`` inside
    ``async with bus.stream(...)`` closes it at once).  An exception from the
    handler is raised at the ``yield``, also for one raised while streaming, so
    ``try``/``except``/``finally`` and ``async with`` around it see every way
    the call can end; a stream closed early raises ``GeneratorExit`` there, so
    put teardown in ``finally`` or ``async with``.  For a stream handler the
    yielded value is the async iterator of the items, which the middleware may
    replace with its own.

    ``provides`` names the keyword arguments the middleware adds for the
    handler (``call_next(message, {**kwargs, "session": ...})``):
    ``bus.stream()`` checks a stream handler's required arguments before the
    chain runs, and counts these as given.

    Raises:
        TypeError: ``function`` is not an async generator function, or
            ``provides`` is a string rather than a collection of names.
    """
    if isinstance(provides, str):
        raise TypeError(f"around(provides={provides!r}): give a list of names, not a string")
    names = frozenset(provides)
    if function is None:
        return lambda function: AroundMiddleware(function, provides=names)
    return AroundMiddleware(function, provides=names)


@final
class AroundMiddleware:
    """A middleware made by `around`: its code around ``yield`` spans the whole call.

    It is a `Middleware` (``await mw(message, kwargs, call_next)``), so it goes
    in any ``modifiers=`` list and mixes with middleware functions and modifier
    factories.  For a stream handler the result it returns is an async
    iterator that finishes the generator when it is exhausted or closed.
    """

    __slots__ = ("_function", "_provides")

    def __init__(
        self, function: _AroundFunction, *, provides: frozenset[str] = frozenset()
    ) -> None:
        own_call = getattr(type(function), "__call__", None)  # noqa: B004 - the class attribute
        if not (inspect.isasyncgenfunction(function) or inspect.isasyncgenfunction(own_call)):
            raise TypeError(
                f"around() takes an async generator function (`async def` with `yield`), not "
                f"{describe(function)}; a middleware that returns its result needs no around()"
            )
        self._function = function
        self._provides = provides

    @property
    def function(self) -> _AroundFunction:
        """The async generator function it was made from."""
        return self._function

    @property
    def provides(self) -> frozenset[str]:
        """The keyword arguments it declared it adds for the handler."""
        return self._provides

    async def __call__(self, message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        steps: AsyncIterator[Any] = self._function(message, kwargs, call_next)
        try:
            result = await steps.__anext__()
        except StopAsyncIteration:
            raise RuntimeError(
                f"the middleware {describe(self._function)} finished without yielding: "
                f"yield the result, usually `yield await call_next(message, kwargs)`"
            ) from None
        if call_next.handler.kind == "stream":
            return _spanning(result, steps, self)
        try:
            await steps.__anext__()
        except StopAsyncIteration:
            return result
        await _close(steps)
        raise self._yielded_again()

    def _yielded_again(self) -> RuntimeError:
        return RuntimeError(
            f"the middleware {describe(self._function)} yielded more than once: it yields "
            f"the result once (for a stream, the iterator of its items)"
        )

    def __repr__(self) -> str:
        provides = f", provides={sorted(self._provides)}" if self._provides else ""
        return f"around({describe(self._function)}{provides})"


async def _spanning(
    items: AsyncIterator[Any], steps: AsyncIterator[Any], middleware: AroundMiddleware
) -> AsyncGenerator[Any, None]:
    """``items``, then the rest of the middleware's generator ``steps``, however they end."""
    try:
        async for item in items:
            yield item
    except GeneratorExit:  # closed early: close the handler's generator, then the middleware
        try:
            await _close(items)
        finally:
            await _close(steps)
        raise
    except BaseException as error:  # the handler raised (or was cancelled) while streaming
        await _close(items)  # finished already, unless the error was thrown in at our yield
        athrow = getattr(steps, "athrow", None)
        if athrow is None:  # pragma: no cover - an async generator function makes a generator
            raise
        try:
            await athrow(error)
        except StopAsyncIteration:
            return  # the middleware caught the error and finished: the stream ends
        await _close(steps)
        raise middleware._yielded_again() from error
    else:
        try:
            await steps.__anext__()
        except StopAsyncIteration:
            return
        await _close(steps)
        raise middleware._yielded_again()


async def _close(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


async def raise_later(error: BaseException) -> NoReturn:
    """A coroutine that raises ``error``: ``execute`` and ``publish`` errors surface when
    awaited, as they would from an ``async def``."""
    raise error
