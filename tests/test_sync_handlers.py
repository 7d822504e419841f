"""Plain `def` handlers: inline by default, in a worker thread with thread=True."""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from mediator import LocalEventBus, LocalRequestBus, MissingArgumentError, PublishError
from mediator.common.factory import MethodHandlerPolicy

tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="none")


@dataclass
class Add:
    a: int
    b: int


async def test_sync_request_handler_runs_inline() -> None:
    bus = LocalRequestBus()
    caller = threading.get_ident()

    @bus.register
    def add(command: Add, scale: int = 1) -> tuple[int, bool]:
        return (command.a + command.b) * scale, threading.get_ident() == caller

    assert await bus.execute(Add(1, 2), scale=10) == (30, True)


async def test_thread_true_runs_in_a_worker_thread_and_carries_contextvars() -> None:
    bus = LocalRequestBus()
    caller = threading.get_ident()

    @bus.register(thread=True)
    def add(command: Add) -> tuple[int, bool, str]:
        return command.a + command.b, threading.get_ident() != caller, tenant.get()

    token = tenant.set("acme")
    try:
        assert await bus.execute(Add(2, 2)) == (4, True, "acme")
    finally:
        tenant.reset(token)
    assert bus.handlers[0].kind == "thread"


async def test_sync_event_handlers_and_errors() -> None:
    bus = LocalEventBus()
    seen: list[int] = []

    @bus.register
    def record(event: Add) -> None:
        seen.append(event.a)

    @bus.register(thread=True)
    def fail(event: Add) -> None:
        raise RuntimeError("in a thread")

    with pytest.raises(PublishError) as caught:
        await bus.publish(Add(5, 0))
    assert seen == [5]
    assert [type(e) for e in caught.value.exceptions] == [RuntimeError]


async def test_sync_method_through_a_policy() -> None:
    class Calculator:
        def handle(self, command: Add) -> int:
            return command.a * command.b

    bus = LocalRequestBus(policies=[MethodHandlerPolicy(name="handle")])
    bus.register(Calculator())
    assert await bus.execute(Add(3, 4)) == 12


@pytest.mark.parametrize("thread", [False, True])
async def test_missing_argument_and_a_type_error_from_the_body(thread: bool) -> None:
    bus = LocalRequestBus()

    @bus.register(thread=thread)
    def add(command: Add, user: str) -> int:
        return command.a + "text"  # type: ignore[operator, no-any-return]

    with pytest.raises(MissingArgumentError) as caught:
        await bus.execute(Add(1, 1))
    assert caught.value.parameters == ("user",)
    with pytest.raises(TypeError, match="unsupported operand") as caught:  # from the body
        await bus.execute(Add(1, 1), user="ada")
    assert not isinstance(caught.value, MissingArgumentError)


async def test_a_sync_wrapper_returning_a_coroutine_is_awaited() -> None:
    def traced(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Awaitable[Any]:
            return fn(*args, **kwargs)

        return wrapper

    bus = LocalRequestBus()

    @bus.register
    @traced
    async def add(command: Add) -> int:
        return command.a + command.b

    assert bus.handlers[0].kind == "sync"
    assert await bus.execute(Add(1, 1)) == 2
