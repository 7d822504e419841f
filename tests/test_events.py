"""LocalEventBus: fan-out, strategies, and errors that are never lost."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import re
import sys
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from mediator import (
    EventHandlerRegistry,
    Handler,
    LocalEventBus,
    MissingArgumentError,
    PublishError,
)
from mediator.errors import BusStateError, ConfigurationError, DuplicateHandlerError

HERE = re.escape(__file__.rsplit("/", 1)[-1])
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("REQUEST_ID", default="-")


@dataclass
class OrderPlaced:
    order_id: int


@dataclass
class OrderShipped:
    order_id: int


class MailDown(Exception):
    pass


class StockDown(Exception):
    pass


STRATEGIES = ["sequential", "concurrent"]


async def test_every_handler_runs_in_registration_order() -> None:
    bus = LocalEventBus()
    calls: list[str] = []

    @bus.register
    async def first(event: OrderPlaced) -> None:
        calls.append(f"first {event.order_id}")

    @bus.register
    async def second(event: OrderPlaced, user: str) -> None:
        calls.append(f"second {event.order_id} {user}")

    @bus.register
    async def other(event: OrderShipped) -> None:
        calls.append("other")

    await bus.publish(OrderPlaced(1), user="ada", ignored=True)
    assert calls == ["first 1", "second 1 ada"]


@pytest.mark.parametrize("strategy", ["sequential", "concurrent", "background"])
async def test_publishing_an_event_nobody_handles_is_a_no_op(strategy: Any) -> None:
    bus = LocalEventBus(strategy=strategy)
    async with bus:
        await bus.publish(OrderPlaced(1))


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_failures_are_collected_after_every_handler_ran(strategy: Any) -> None:
    bus = LocalEventBus(strategy=strategy)
    ran: list[str] = []
    mail_error = MailDown("smtp")
    stock_error = StockDown("db")

    @bus.register
    async def send_mail(event: OrderPlaced) -> None:
        ran.append("mail")
        raise mail_error

    @bus.register
    async def bill(event: OrderPlaced) -> None:
        ran.append("bill")

    @bus.register
    def reserve_stock(event: OrderPlaced) -> None:
        ran.append("stock")
        raise stock_error

    with pytest.raises(PublishError) as caught:
        await bus.publish(OrderPlaced(7))
    error = caught.value
    assert sorted(ran) == ["bill", "mail", "stock"]
    assert isinstance(error, ExceptionGroup)
    assert list(error.exceptions) == [mail_error, stock_error]
    assert [(f.handler.fn, f.exception) for f in error.failures] == [
        (send_mail, mail_error),
        (reserve_stock, stock_error),
    ]
    assert error.event == OrderPlaced(7)
    assert re.match(
        r"2 of 3 handlers failed for test_events\.OrderPlaced: .*send_mail, .*reserve_stock",
        str(error),
    )
    assert re.search(
        rf"raised by event handler .*send_mail \(.*{HERE}:\d+\) for test_events\.OrderPlaced",
        mail_error.__notes__[0],
    )
    # except* splits keep the failure details.
    mail, rest = error.split(MailDown)
    assert isinstance(mail, PublishError) and isinstance(rest, PublishError)
    assert [f.handler.fn for f in mail.failures] == [send_mail]
    assert [f.handler.fn for f in rest.failures] == [reserve_stock]


async def test_except_star_works_on_publish_errors() -> None:
    bus = LocalEventBus()

    @bus.register
    async def send_mail(event: OrderPlaced) -> None:
        raise MailDown

    handled = False
    try:
        await bus.publish(OrderPlaced(1))
    except* MailDown as group:
        handled = isinstance(group, PublishError)
    assert handled


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_missing_argument_is_a_handler_failure(strategy: Any) -> None:
    bus = LocalEventBus(strategy=strategy)
    ran = []

    @bus.register
    async def needs_user(event: OrderPlaced, user: str) -> None: ...

    @bus.register
    async def fine(event: OrderPlaced) -> None:
        ran.append(True)

    with pytest.raises(PublishError) as caught:
        await bus.publish(OrderPlaced(1))
    assert ran == [True]
    (failure,) = caught.value.failures
    assert isinstance(failure.exception, MissingArgumentError)
    assert failure.exception.parameters == ("user",)
    assert failure.handler is failure.exception.handler


async def test_concurrent_handlers_run_at_the_same_time() -> None:
    bus = LocalEventBus(strategy="concurrent")
    both_started = anyio.Event()
    started = 0

    for _ in range(2):

        async def wait_for_the_other(event: OrderPlaced) -> None:
            nonlocal started
            started += 1
            if started == 2:
                both_started.set()
            with anyio.fail_after(5):
                await both_started.wait()

        bus.register(wait_for_the_other)
    await bus.publish(OrderPlaced(1))
    assert started == 2


async def test_concurrency_limit() -> None:
    bus = LocalEventBus(strategy="concurrent", max_concurrency=2)
    running = peak = 0
    release = anyio.Event()

    for _ in range(5):

        async def handler(event: OrderPlaced) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            if running == 2:
                release.set()
            await release.wait()
            await anyio.lowlevel.checkpoint()
            running -= 1

        bus.register(handler)
    with anyio.fail_after(5):
        await bus.publish(OrderPlaced(1))
    assert peak == 2


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_cancelling_a_publish_cancels_its_handlers_and_logs_collected_errors(
    strategy: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bus = LocalEventBus(strategy=strategy)
    entered = anyio.Event()
    cleaned_up = False

    @bus.register
    async def fails_first(event: OrderPlaced) -> None:
        raise MailDown("lost?")

    @bus.register
    async def hangs(event: OrderPlaced) -> None:
        nonlocal cleaned_up
        entered.set()
        try:
            await anyio.sleep_forever()
        finally:
            cleaned_up = True

    with caplog.at_level(logging.ERROR, logger="mediator"):
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(bus.publish, OrderPlaced(1))
            with anyio.fail_after(5):
                await entered.wait()
            task_group.cancel_scope.cancel()
    assert cleaned_up
    assert "fails_first" in caplog.text and "before the publish was cancelled" in caplog.text
    assert "MailDown: lost?" in caplog.text


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_equal_handler_objects_are_each_blamed_for_their_own_failure(strategy: Any) -> None:
    @dataclass
    class Notify:  # equal by value: two instances compare equal
        channel: str

        async def __call__(self, event: OrderPlaced) -> None:
            runs.append(self.channel)
            if len(runs) == 2:
                raise MailDown("second run")

    bus = LocalEventBus(strategy=strategy)
    runs: list[str] = []
    first, second = Notify("mail"), Notify("mail")
    assert first == second
    bus.register(first)
    bus.register(second)
    with pytest.raises(PublishError) as caught:
        await bus.publish(OrderPlaced(1))
    (failure,) = caught.value.failures
    assert failure.handler is bus.handlers[1]
    assert failure.handler.obj is second


async def test_concurrent_handlers_may_use_cancel_scopes_across_their_first_suspension() -> None:
    # The first handler to suspend goes on in the publisher's task, the others
    # in tasks of their own: scopes entered before suspending must still work.
    bus = LocalEventBus(strategy="concurrent")
    release = anyio.Event()
    done: list[str] = []

    @bus.register
    async def first(event: OrderPlaced) -> None:
        with anyio.fail_after(5):
            await release.wait()
        done.append("first")

    @bus.register
    async def second(event: OrderPlaced) -> None:
        with anyio.move_on_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(release.wait)
                release.set()
        done.append("second")

    @bus.register
    async def timed_out(event: OrderPlaced) -> None:
        with anyio.move_on_after(0) as scope:
            await anyio.sleep_forever()
        done.append(f"timed out: {scope.cancelled_caught}")

    await bus.publish(OrderPlaced(1))
    assert sorted(done) == ["first", "second", "timed out: True"]


async def test_concurrent_handlers_get_their_own_context() -> None:
    bus = LocalEventBus(strategy="concurrent")
    seen: list[str] = []

    @bus.register
    async def sets(event: OrderPlaced) -> None:
        REQUEST_ID.set("changed by a handler")
        await anyio.lowlevel.checkpoint()

    @bus.register
    async def reads(event: OrderPlaced) -> None:
        seen.append(REQUEST_ID.get())
        await anyio.lowlevel.checkpoint()
        seen.append(REQUEST_ID.get())

    token = REQUEST_ID.set("publisher's")
    try:
        await bus.publish(OrderPlaced(1))
        assert REQUEST_ID.get() == "publisher's"
    finally:
        REQUEST_ID.reset(token)
    assert seen == ["publisher's", "publisher's"]


async def test_no_concurrent_handler_outlives_publish() -> None:
    bus = LocalEventBus(strategy="concurrent")
    finished: list[int] = []

    def make(index: int, checkpoints: int) -> Any:
        async def handler(event: OrderPlaced) -> None:
            for _ in range(checkpoints):
                await anyio.lowlevel.checkpoint()
            finished.append(index)

        return handler

    for index, checkpoints in enumerate([0, 3, 0, 1, 5, 0]):
        bus.register(make(index, checkpoints))
    await bus.publish(OrderPlaced(1))
    assert sorted(finished) == [0, 1, 2, 3, 4, 5]
    assert finished[:1] == [0]  # a handler that does not suspend is done at once


async def test_cancelling_a_concurrent_publish_reaches_every_handler() -> None:
    bus = LocalEventBus(strategy="concurrent")
    started: list[int] = []
    cancelled: list[int] = []
    all_started = anyio.Event()

    def make(index: int) -> Any:
        async def hangs(event: OrderPlaced) -> None:
            started.append(index)
            if len(started) == 3:
                all_started.set()
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                cancelled.append(index)
                raise

        return hangs

    for index in range(3):
        bus.register(make(index))
    async with anyio.create_task_group() as group:
        group.start_soon(bus.publish, OrderPlaced(1))
        with anyio.fail_after(5):
            await all_started.wait()
        group.cancel_scope.cancel()
    assert sorted(cancelled) == [0, 1, 2]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="inspect.markcoroutinefunction is 3.12+")
async def test_concurrent_publish_awaits_any_awaitable_a_handler_returns() -> None:
    bus = LocalEventBus(strategy="concurrent")
    ran: list[str] = []

    class Ready:
        def __await__(self) -> Any:
            ran.append("awaited")
            return
            yield

    for _ in range(2):  # two handlers: the second runs as a task of the group

        def returns_an_awaitable(event: OrderPlaced) -> Ready:
            return Ready()

        inspect.markcoroutinefunction(returns_an_awaitable)  # type: ignore[attr-defined,unused-ignore]
        bus.register(returns_an_awaitable)
    assert bus.handlers[0].kind == "async"
    await bus.publish(OrderPlaced(1))
    assert ran == ["awaited", "awaited"]


# -- background ------------------------------------------------------------------


async def test_background_publish_returns_at_once_and_exit_waits_for_handlers() -> None:
    bus = LocalEventBus(strategy="background")
    release = anyio.Event()
    done: list[int] = []

    @bus.register
    async def slow(event: OrderPlaced) -> None:
        await release.wait()
        done.append(event.order_id)

    async with bus:
        await bus.publish(OrderPlaced(1))
        await bus.publish(OrderPlaced(2))
        assert done == []
        release.set()
    assert sorted(done) == [1, 2]


async def test_background_drains_even_when_the_block_raises() -> None:
    bus = LocalEventBus(strategy="background")
    done: list[int] = []

    @bus.register
    async def slow(event: OrderPlaced) -> None:
        await anyio.lowlevel.checkpoint()  # would raise here if the drain cancelled it
        done.append(event.order_id)

    with pytest.raises(ValueError, match="application error"):
        async with bus:
            await bus.publish(OrderPlaced(1))
            await bus.publish(OrderPlaced(2))
            assert done == []  # publish does not yield: nothing ran yet
            raise ValueError("application error")
    assert sorted(done) == [1, 2]


async def test_background_failures_go_to_on_error_with_handler_and_event() -> None:
    reported: list[tuple[Exception, Handler, Any]] = []

    async def on_error(error: Exception, handler: Handler, event: Any) -> None:
        reported.append((error, handler, event))

    bus = LocalEventBus(strategy="background", on_error=on_error)
    error = MailDown("smtp")

    @bus.register
    async def send_mail(event: OrderPlaced) -> None:
        raise error

    @bus.register
    def audit(event: OrderPlaced) -> None:
        pass

    async with bus:
        await bus.publish(OrderPlaced(3))
    assert len(reported) == 1
    assert reported[0][0] is error and reported[0][1].fn is send_mail
    assert reported[0][2] == OrderPlaced(3)
    assert "raised by event handler" in error.__notes__[0]


async def test_background_failures_are_logged_by_default(caplog: pytest.LogCaptureFixture) -> None:
    bus = LocalEventBus(strategy="background")

    @bus.register
    async def send_mail(event: OrderPlaced) -> None:
        raise MailDown("smtp down")

    with caplog.at_level(logging.ERROR, logger="mediator"):
        async with bus:
            await bus.publish(OrderPlaced(3))
    (record,) = caplog.records
    assert record.name == "mediator"
    assert re.search(
        r"Event handler .*send_mail \(.*\) failed for test_events\.OrderPlaced", record.getMessage()
    )
    assert record.exc_info is not None and isinstance(record.exc_info[1], MailDown)


async def test_a_failing_on_error_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def on_error(error: Exception, handler: Handler, event: Any) -> None:
        raise RuntimeError("reporter broke")

    bus = LocalEventBus(strategy="background", on_error=on_error)

    @bus.register
    async def send_mail(event: OrderPlaced) -> None:
        raise MailDown

    ran = []

    @bus.register
    async def other(event: OrderPlaced) -> None:
        ran.append(True)

    with caplog.at_level(logging.ERROR, logger="mediator"):
        async with bus:
            await bus.publish(OrderPlaced(1))
    assert ran == [True]
    assert "on_error callback" in caplog.text and "reporter broke" in caplog.text
    assert "MailDown" in caplog.text


async def test_max_in_flight_bounds_the_running_handlers_and_makes_publish_wait() -> None:
    bus = LocalEventBus(strategy="background", max_in_flight=2)
    release = anyio.Event()
    started: list[int] = []
    published: list[int] = []

    @bus.register
    async def handler(event: OrderPlaced) -> None:
        started.append(event.order_id)
        await release.wait()

    async def produce() -> None:
        for i in range(5):
            await bus.publish(OrderPlaced(i))
            published.append(i)

    async with bus, anyio.create_task_group() as group:
        group.start_soon(produce)
        await anyio.wait_all_tasks_blocked()
        # Two handlers run; the third publish waits for room, the rest are not made yet.
        assert (started, published) == ([0, 1], [0, 1])
        release.set()
    assert (started, published) == ([0, 1, 2, 3, 4], [0, 1, 2, 3, 4])


async def test_max_in_flight_keeps_a_producer_from_outrunning_its_handlers() -> None:
    bus = LocalEventBus(strategy="background", max_in_flight=10)
    running = peak = 0
    handled = 0

    @bus.register
    async def handler(event: OrderPlaced) -> None:
        nonlocal running, peak, handled
        running += 1
        peak = max(peak, running)
        await anyio.lowlevel.checkpoint()
        running -= 1
        handled += 1

    async with bus:
        for i in range(1000):
            await bus.publish(OrderPlaced(i))
            assert i + 1 - handled <= 10  # never more than the limit pending
    assert peak <= 10 and handled == 1000


async def test_a_cancelled_async_on_error_still_logs_the_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reporting = anyio.Event()

    async def report(error: Exception, handler: Handler, event: object) -> None:
        reporting.set()
        await anyio.sleep_forever()  # a slow error tracker, at shutdown

    bus = LocalEventBus(strategy="background", on_error=report)

    @bus.register
    async def fails(event: OrderPlaced) -> None:
        raise MailDown("smtp down")

    with caplog.at_level(logging.ERROR, logger="mediator"), anyio.CancelScope() as scope:
        async with bus:
            await bus.publish(OrderPlaced(1))
            await reporting.wait()
            scope.cancel()
    (record,) = caplog.records
    assert record.getMessage().startswith(f"Event handler {bus.handlers[0].described} failed")
    assert "was cancelled while reporting it" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], MailDown)


# With max_in_flight=1 the only slot is the publishing handler's: it must not wait for room.
@pytest.mark.parametrize("max_in_flight", [None, 1])
async def test_background_handlers_can_publish_more_events_during_the_drain(
    max_in_flight: int | None,
) -> None:
    bus = LocalEventBus(strategy="background", max_in_flight=max_in_flight)
    seen: list[str] = []

    @bus.register
    async def placed(event: OrderPlaced) -> None:
        await bus.publish(OrderShipped(event.order_id))
        seen.append("placed")

    @bus.register
    async def shipped(event: OrderShipped) -> None:
        seen.append("shipped")

    async with bus:
        await bus.publish(OrderPlaced(1))
        await bus.publish(OrderPlaced(2))
    assert sorted(seen) == ["placed", "placed", "shipped", "shipped"]


async def test_background_publish_outside_the_block_says_how_to_fix_it() -> None:
    bus = LocalEventBus(strategy="background")
    with pytest.raises(BusStateError) as caught:
        await bus.publish(OrderPlaced(1))
    assert (caught.value.problem, caught.value.owner) == ("not-entered", "LocalEventBus")
    async with bus:
        pass
    with pytest.raises(BusStateError) as caught:
        await bus.publish(OrderPlaced(1))
    assert caught.value.problem == "not-entered"


async def test_entering_twice_is_an_error_and_reentering_after_exit_works() -> None:
    bus = LocalEventBus(strategy="background")
    async with bus:
        with pytest.raises(BusStateError) as caught:
            await bus.__aenter__()
        assert caught.value.problem == "entered"
    async with bus:
        await bus.publish(OrderPlaced(1))


async def test_cancelling_the_block_cancels_background_handlers() -> None:
    bus = LocalEventBus(strategy="background")
    entered = anyio.Event()
    cancelled = False

    @bus.register
    async def hangs(event: OrderPlaced) -> None:
        nonlocal cancelled
        entered.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled = True
            raise

    with anyio.CancelScope() as scope:
        async with bus:
            await bus.publish(OrderPlaced(1))
            await entered.wait()
            scope.cancel()
    assert cancelled


# -- configuration ---------------------------------------------------------------


def test_sync_mode_compatibility() -> None:
    assert LocalEventBus().strategy == "sequential"
    assert LocalEventBus(sync_mode=True).strategy == "concurrent"
    assert LocalEventBus(sync_mode=False).strategy == "background"
    with pytest.raises(ConfigurationError) as caught:
        LocalEventBus(sync_mode=True, strategy="concurrent")
    assert (caught.value.problem, caught.value.option) == ("strategy-and-sync-mode", "sync_mode")


@pytest.mark.parametrize(
    ("options", "problem", "option"),
    [
        ({"strategy": "parallel"}, "strategy", "strategy"),
        ({"max_concurrency": 2}, "max-concurrency-sequential", "max_concurrency"),
        (
            {"strategy": "background", "max_concurrency": 2},
            "max-concurrency-background",
            "max_concurrency",
        ),
        ({"strategy": "background", "max_in_flight": 0}, "max-in-flight", "max_in_flight"),
        ({"strategy": "concurrent", "max_in_flight": 5}, "max-in-flight-strategy", "max_in_flight"),
        ({"strategy": "concurrent", "max_concurrency": 0}, "max-concurrency", "max_concurrency"),
        ({"strategy": "concurrent", "max_concurrency": True}, "max-concurrency", "max_concurrency"),
        ({"on_error": print}, "on-error-strategy", "on_error"),
        ({"strategy": "background", "on_error": "log"}, "on-error", "on_error"),
    ],
)
def test_configuration_errors(options: dict[str, Any], problem: str, option: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        LocalEventBus(**options)
    error = caught.value
    assert (error.problem, error.option, error.where) == (problem, option, "LocalEventBus()")
    assert error.value == options[option]
    assert isinstance(error, ValueError) and isinstance(error, TypeError)


# -- registries --------------------------------------------------------------------


async def test_registry_handlers_are_included_after_the_bus_own() -> None:
    registry = EventHandlerRegistry()
    calls: list[str] = []

    @registry.register
    async def handler(event: OrderPlaced) -> None:
        calls.append("registry")

    bus = LocalEventBus()

    @bus.register
    async def own(event: OrderPlaced) -> None:
        calls.append("bus")

    bus.include(registry)
    await bus.publish(OrderPlaced(1))
    assert calls == ["bus", "registry"]


async def test_the_same_handler_twice_for_one_event_is_refused() -> None:
    registry = EventHandlerRegistry()

    @registry.register
    async def handler(event: OrderPlaced) -> None: ...

    bus = LocalEventBus()
    bus.include(registry)
    with pytest.raises(DuplicateHandlerError) as caught:
        bus.include(registry)  # twice: every event would reach it twice
    error = caught.value
    assert (error.message_type, error.existing, error.new, error.event) == (
        OrderPlaced,
        registry.handlers[0],
        registry.handlers[0],
        True,
    )
    assert str(error) == (
        f"Cannot register {registry.handlers[0].described} for {OrderPlaced.__module__}."
        "OrderPlaced: "
        "it is already one of its handlers, and every event would reach it twice.\n"
        "Tip: Register it once (was a function registered again, or a registry included "
        "twice?); to run it twice on purpose, register a second function that calls it."
    )
    with pytest.raises(DuplicateHandlerError):
        bus.register(handler)  # the same function, registered again
    with pytest.raises(DuplicateHandlerError):
        LocalEventBus().include([*registry, *registry])  # twice in one batch
    assert bus.handlers == registry.handlers  # unchanged


async def test_one_method_of_two_instances_is_two_handlers() -> None:
    class Mailer:
        def __init__(self) -> None:
            self.sent = 0

        async def on_placed(self, event: OrderPlaced) -> None:
            self.sent += 1

    bus = LocalEventBus()
    first, second = Mailer(), Mailer()
    bus.register(first.on_placed)
    bus.register(second.on_placed)
    with pytest.raises(DuplicateHandlerError):
        bus.register(first.on_placed)  # a new bound method object, the same handler
    await bus.publish(OrderPlaced(1))
    assert (first.sent, second.sent) == (1, 1)


# -- reporting never replaces the failure -------------------------------------------------


@dataclass(frozen=True)
class FrozenError(Exception):
    """An exception class that refuses new attributes, so add_note fails on it."""

    code: int


@pytest.mark.parametrize("strategy", ["sequential", "concurrent", "background"])
async def test_a_frozen_exception_is_reported_as_itself(strategy: Any) -> None:
    reported: list[Exception] = []
    bus = LocalEventBus(
        strategy=strategy,
        on_error=(lambda error, handler, event: reported.append(error))
        if strategy == "background"
        else None,
    )
    error = FrozenError(7)

    @bus.register
    async def fails(event: OrderPlaced) -> None:
        raise error

    @bus.register
    async def fine(event: OrderPlaced) -> None: ...

    if strategy == "background":
        async with bus:
            await bus.publish(OrderPlaced(1))
    else:
        with pytest.raises(PublishError) as caught:
            await bus.publish(OrderPlaced(1))
        reported = [f.exception for f in caught.value.failures]
    assert reported == [error]
    assert not hasattr(error, "__notes__")


async def test_failures_are_reported_when_the_working_directory_is_gone(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = LocalEventBus()

    @bus.register
    async def fails(event: OrderPlaced) -> None:
        raise MailDown("smtp")

    gone = tmp_path / "release-1"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()  # a deploy removed the old release directory
    with pytest.raises(PublishError) as caught:
        await bus.publish(OrderPlaced(1))
    (failure,) = caught.value.failures
    assert isinstance(failure.exception, MailDown)
    assert __file__ in failure.exception.__notes__[0]  # the absolute path, then


async def test_publishing_the_same_exception_again_does_not_pile_up_notes() -> None:
    bus = LocalEventBus()
    error = MailDown("always the same object")

    @bus.register
    async def fails(event: OrderPlaced) -> None:
        raise error

    for _ in range(3):
        with pytest.raises(PublishError):
            await bus.publish(OrderPlaced(1))
    assert len(error.__notes__) == 1


# -- concurrent handlers behave as tasks of one group ----------------------------------------


async def test_concurrent_handlers_after_the_first_keep_their_shields_and_see_deadlines() -> None:
    bus = LocalEventBus(strategy="concurrent")
    done: list[str] = []
    deadlines: list[float] = []

    @bus.register
    async def first(event: OrderPlaced) -> None:
        await anyio.sleep_forever()

    @bus.register
    async def shielded(event: OrderPlaced) -> None:
        deadlines.append(anyio.current_effective_deadline())
        with anyio.CancelScope(shield=True):
            for _ in range(5):
                await anyio.lowlevel.checkpoint()
            done.append("shielded work")

    @bus.register
    async def later(event: OrderPlaced) -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            done.append("later cancelled")
            raise

    with anyio.move_on_after(30) as scope:
        deadline = scope.deadline
        async with anyio.create_task_group() as group:
            group.start_soon(bus.publish, OrderPlaced(1))
            await anyio.wait_all_tasks_blocked()
            scope.cancel()
    assert sorted(done) == ["later cancelled", "shielded work"]
    assert deadlines == [deadline]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # asyncio's own cancellation
async def test_a_handler_that_swallows_a_native_cancellation_does_not_hide_it() -> None:
    bus = LocalEventBus(strategy="concurrent")
    log: list[str] = []

    @bus.register
    async def swallows(event: OrderPlaced) -> None:
        try:
            await anyio.sleep_forever()
        except asyncio.CancelledError:
            log.append("swallowed")  # a bug in the handler, but only its own

    @bus.register
    async def other(event: OrderPlaced) -> None:
        try:
            await anyio.sleep_forever()
        except asyncio.CancelledError:
            log.append("other cancelled")
            raise

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0):
            await bus.publish(OrderPlaced(1))
    assert sorted(log) == ["other cancelled", "swallowed"]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(bus.publish(OrderPlaced(1)), 0)


async def test_a_single_concurrent_handler_gets_its_own_context_too() -> None:
    bus = LocalEventBus(strategy="concurrent")

    @bus.register
    async def sets(event: OrderPlaced) -> None:
        REQUEST_ID.set("changed by the handler")

    await bus.publish(OrderPlaced(1))
    assert REQUEST_ID.get() == "-"


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_except_star_keeps_the_failure_of_a_handler_that_raised_a_group(
    strategy: Any,
) -> None:
    bus = LocalEventBus(strategy=strategy)

    @bus.register
    async def uses_a_task_group(event: OrderPlaced) -> None:
        raise ExceptionGroup("from its task group", [MailDown("a"), StockDown("b")])

    @bus.register
    async def plain(event: OrderPlaced) -> None:
        raise KeyError("k")

    with pytest.raises(PublishError) as caught:
        try:
            await bus.publish(OrderPlaced(1))
        except* KeyError:
            pass
    (failure,) = caught.value.failures
    assert failure.handler.fn is uses_a_task_group
    assert failure.exception is caught.value.exceptions[0]
    mail, _ = caught.value.split(MailDown)
    assert mail is not None
    assert [f.handler.fn for f in mail.failures] == [uses_a_task_group]
