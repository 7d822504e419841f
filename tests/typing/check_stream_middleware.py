"""Static typing of `around` and `AroundMiddleware`, and of `Handler.kind` in a middleware.

Not run: type checkers read it (tests/test_typing.py runs them under mypy --strict
and pyright).  Lines marked ``# type: ignore[...]`` must be rejected by both.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any, assert_type

from mediator import (
    AroundMiddleware,
    HandlerKind,
    LocalEventBus,
    LocalRequestBus,
    Middleware,
    Modifier,
    Next,
    StreamRequest,
    around,
)
from mediator.common.modifiers import ActionCallType, ModifierFactory


@dataclass
class ListUsers(StreamRequest[str]):
    pass


# The decorator, bare and with `provides`, makes an AroundMiddleware.
@around
async def timed(message: Any, kwargs: dict[str, Any], call_next: Next) -> AsyncIterator[Any]:
    assert_type(call_next.handler.kind, HandlerKind)
    yield await call_next(message, kwargs)


@around(provides=["session"])
async def with_session(
    message: Any, kwargs: dict[str, Any], call_next: Next
) -> AsyncGenerator[Any, None]:
    yield await call_next(message, {**kwargs, "session": object()})


async def by_kind(message: Any, kwargs: dict[str, Any], call_next: Next) -> AsyncIterator[Any]:
    # `kind` is a Literal: a stream call is told apart by it.
    if call_next.handler.kind == "stream":
        items: AsyncIterator[Any] = await call_next(message, kwargs)
        yield items
    else:
        yield await call_next(message, kwargs)


assert_type(timed, AroundMiddleware)
assert_type(with_session, AroundMiddleware)
assert_type(around(by_kind), AroundMiddleware)
assert_type(around(by_kind, provides=("user", "session")), AroundMiddleware)
assert_type(with_session.provides, frozenset[str])


# An AroundMiddleware is a Middleware and a Modifier: it mixes with the other forms.
class Logging(ModifierFactory):
    def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
        return call


async def plain(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
    return await call_next(message, kwargs)


as_middleware: Middleware = timed
as_modifier: Modifier = with_session
LocalRequestBus(modifiers=[timed, plain, Logging(), with_session])
LocalEventBus(modifiers=[timed])


async def usage(bus: LocalRequestBus, call_next: Next) -> None:
    assert_type(await timed(ListUsers(), {}, call_next), Any)
    async with bus.stream(ListUsers()) as names:
        async for name in names:
            assert_type(name, str)


# -- what must be rejected ----------------------------------------------------------


async def returns(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
    return await call_next(message, kwargs)


async def two_parameters(message: Any, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
    yield None


def rejected(handler_kind: HandlerKind) -> None:
    around(returns)  # type: ignore[arg-type]
    around(two_parameters)  # type: ignore[arg-type]
    around(provides=[1])  # type: ignore[list-item]
    timed.provides = frozenset()  # type: ignore[misc]
    wrong: AsyncIterator[Any] = timed  # type: ignore[assignment]
    streaming = handler_kind == "streaming"  # type: ignore[comparison-overlap]
    del wrong, streaming


class Subclass(AroundMiddleware):  # type: ignore[misc]
    pass
