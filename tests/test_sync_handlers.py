"""Plain `def` handlers: inline by default, in a worker thread with thread=True."""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import pytest

from mediator import LocalEventBus, LocalRequestBus, MissingArgumentError, PublishError
from mediator.common.factory import MethodHandlerPolicy
from mediator.errors import ConfigurationError

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


def traced(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """A sync decorator around an async function: calling it only creates the coroutine."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Awaitable[Any]:
        return fn(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("thread", [False, True])
async def test_a_sync_wrapper_returning_a_coroutine_runs_inline_and_in_a_thread(
    thread: bool,
) -> None:
    requests = LocalRequestBus()
    events = LocalEventBus()
    seen: list[int] = []

    @requests.register(thread=thread)
    @traced
    async def add(command: Add) -> int:
        await anyio.lowlevel.checkpoint()  # runs in the event loop, not in the thread
        return command.a + command.b

    @events.register(thread=thread)
    @traced
    async def record(event: Add) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(event.a)

    assert requests.handlers[0].kind == ("thread" if thread else "sync")
    assert await requests.execute(Add(1, 1)) == 2
    await events.publish(Add(5, 0))
    assert seen == [5]


async def test_a_thread_handler_delays_cancellation_until_it_returns() -> None:
    bus = LocalRequestBus()
    returned: list[int] = []

    with anyio.CancelScope() as scope:

        @bus.register(thread=True)
        def slow(command: Add) -> int:
            anyio.from_thread.run_sync(scope.cancel)  # a timeout, while the thread works
            returned.append(command.a)
            return command.a

        assert await bus.execute(Add(1, 0)) == 1  # the call waited for the thread
        assert returned == [1]
        await anyio.lowlevel.checkpoint()  # the cancellation comes at the next await
        pytest.fail("not cancelled")
    assert scope.cancelled_caught


async def test_abandon_on_cancel_stops_waiting_for_the_thread() -> None:
    bus = LocalRequestBus()
    release = threading.Event()
    finished = threading.Event()

    with anyio.CancelScope() as scope:

        @bus.register(thread=True, abandon_on_cancel=True)
        def slow(command: Add) -> int:
            anyio.from_thread.run_sync(scope.cancel)
            release.wait(5)
            finished.set()
            return command.a

        await bus.execute(Add(1, 0))
    assert scope.cancelled_caught
    assert bus.handlers[0].abandon_on_cancel
    assert not finished.is_set()  # the thread was abandoned, still at work
    release.set()
    assert await anyio.to_thread.run_sync(finished.wait, 5)


@pytest.mark.parametrize(
    ("options", "problem", "message"),
    [
        (
            {"abandon_on_cancel": "yes", "thread": True},
            "abandon-on-cancel",
            "LocalRequestBus.register(): abandon_on_cancel='yes' is not a bool.\n"
            "Tip: Pass abandon_on_cancel=True or leave it out.",
        ),
        (
            {"abandon_on_cancel": True},
            "abandon-without-thread",
            "LocalRequestBus.register(): abandon_on_cancel=True applies to handlers run in a "
            "worker thread only.\nTip: Add thread=True, or drop abandon_on_cancel: an inline "
            "handler is cancelled at its next await.",
        ),
    ],
)
def test_abandon_on_cancel_is_checked(options: dict[str, Any], problem: str, message: str) -> None:
    bus = LocalRequestBus()

    def add(command: Add) -> int:
        return 0

    with pytest.raises(ConfigurationError) as caught:
        bus.register(add, **options)
    assert (caught.value.problem, caught.value.option) == (problem, "abandon_on_cancel")
    assert str(caught.value) == message
    assert bus.handlers == ()


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
