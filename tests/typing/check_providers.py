"""Static typing of ``provide`` and ``expect``, checked with mypy --strict and pyright (strict).

Not run: type checkers read it (tests/test_typing.py runs them).  Lines marked
``# type: ignore[...]`` must be rejected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import assert_type

from mediator import EventHandlerRegistry, LocalEventBus, LocalRequestBus, RequestHandlerRegistry

bus = LocalRequestBus()
events = LocalEventBus()
registry = RequestHandlerRegistry()


def make_user() -> str:
    return "ada"


async def make_tenant() -> str:
    return "acme"


def open_engine(dsn: str) -> Iterator[str]:
    yield f"engine({dsn})"


# `provide` returns the factory unchanged, as a call and as a decorator.
assert_type(bus.provide("user", make_user)(), str)
assert_type(registry.provide("engine", open_engine)("db"), Iterator[str])
tenant: Callable[[], Awaitable[str]] = events.provide("tenant", make_tenant)
assert_type(EventHandlerRegistry().provide("clock", int)(), int)


@bus.provide("session")
async def session(engine: str) -> AsyncIterator[str]:
    yield f"session on {engine}"


assert_type(session("engine"), AsyncIterator[str])

bus.expect("user", "tenant")
bus.freeze()

# -- rejected ---------------------------------------------------------------------

bus.provide(make_user)  # type: ignore[call-overload]
bus.provide("user", "ada")  # type: ignore[call-overload]
bus.expect(["user"])  # type: ignore[arg-type]
bus.provide(name="user", factory=make_user)  # type: ignore[call-overload]
