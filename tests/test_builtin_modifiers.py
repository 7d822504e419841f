"""mediator.modifiers: timeout, retry, log, limit and trace, on requests, events and streams."""

from __future__ import annotations

import inspect
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode, Tracer

import mediator.modifiers as modifiers
from mediator import (
    EventHandlerRegistry,
    Handler,
    LocalEventBus,
    LocalRequestBus,
    MissingArgumentError,
    Next,
    PublishError,
    RequestHandlerRegistry,
    StreamRequest,
    around,
)
from mediator.errors import HandlerTimeoutError
from mediator.modifiers import default_backoff, limit, log, retry, timeout, trace


@dataclass
class Get:
    n: int = 0


@dataclass
class Other:
    pass


@dataclass
class Happened:
    n: int = 0


@dataclass
class Items(StreamRequest[int]):
    n: int = 3


def no_wait(attempt: int) -> float:
    return 0


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def name_of(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


# -- the module ------------------------------------------------------------------------


def test_all_lists_exactly_the_public_names_sorted() -> None:
    public = {
        name
        for name, value in vars(modifiers).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert isinstance(modifiers.__all__, tuple)
    assert set(modifiers.__all__) == public
    assert list(modifiers.__all__) == sorted(modifiers.__all__)


def test_each_factory_names_its_middleware_by_how_it_was_made() -> None:
    made = {
        timeout(5.0): "timeout(5.0)",
        timeout(2): "timeout(2)",
        retry(): "retry(attempts=3)",
        retry(5, on=(ConnectionError, TimeoutError), backoff=default_backoff): (
            "retry(attempts=5, on=(ConnectionError, TimeoutError), "
            "backoff=mediator.modifiers.default_backoff)"
        ),
        retry(on=ConnectionError): "retry(attempts=3, on=ConnectionError)",
        log(): "log()",
        log("app.bus", level=logging.INFO, slow=0.5): "log('app.bus', level=INFO, slow=0.5)",
        limit(3): "limit(3)",
        trace(): "trace()",
    }
    for middleware, label in made.items():
        assert middleware.__qualname__ == label
        assert repr(middleware).startswith(f"<function {label} at ")
        assert inspect.iscoroutinefunction(middleware)


def test_importing_the_module_does_not_import_opentelemetry_and_trace_says_how_to_install_it() -> (
    None
):
    done = run_python(
        """
        import sys
        import mediator.modifiers
        print(sorted(name for name in sys.modules if name.startswith("opentelemetry")))
        sys.modules["opentelemetry"] = None  # as if it were not installed
        try:
            mediator.modifiers.trace()
        except ImportError as error:
            print(error)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "[]",
        "mediator.modifiers.trace() needs OpenTelemetry's API, which is not installed: "
        "pip install 'mediator-bus[otel]'",
    ]


# -- timeout -----------------------------------------------------------------------------


async def test_timeout_cancels_the_handler_and_raises_a_timeout_error_naming_it() -> None:
    bus = LocalRequestBus()
    cleaned_up = False

    @bus.register(modifiers=[timeout(0.05)])
    async def stuck(query: Get) -> int:
        nonlocal cleaned_up
        try:
            await anyio.sleep_forever()
        finally:
            cleaned_up = True
        return 1

    with pytest.raises(HandlerTimeoutError) as caught:
        await bus.execute(Get())
    error = caught.value
    assert isinstance(error, TimeoutError)
    assert error.handler.fn is stuck and error.seconds == 0.05
    assert error.__context__ is None  # the cancellation is not chained to it
    assert cleaned_up
    assert str(error) == (
        f"{error.handler.described} did not finish within 0.05 s (timeout middleware): the "
        f"rest of its chain was cancelled.\n"
        f"Tip: Raise the limit given to timeout(), or find what the handler waits for."
    )


async def test_timeout_returns_the_result_of_a_call_in_time() -> None:
    bus = LocalRequestBus(modifiers=[timeout(60)])

    @bus.register
    async def quick(query: Get) -> int:
        await anyio.lowlevel.checkpoint()
        return query.n

    @bus.register
    def inline(query: Other) -> str:  # a plain def, run inline
        return "sync"

    assert await bus.execute(Get(4)) == 4
    assert await bus.execute(Other()) == "sync"


async def test_timeout_lets_an_outer_cancellation_through_untouched() -> None:
    bus = LocalRequestBus(modifiers=[timeout(60)])
    outer = anyio.CancelScope()

    @bus.register
    async def cancels_its_caller(query: Get) -> int:
        outer.cancel()
        await anyio.sleep_forever()
        return 1

    with outer:
        await bus.execute(Get())
    assert outer.cancelled_caught


async def test_nested_timeouts_each_report_their_own_limit() -> None:
    bus = LocalRequestBus(modifiers=[timeout(60)])

    @bus.register(modifiers=[timeout(0.05)])
    async def stuck(query: Get) -> int:
        await anyio.sleep_forever()
        return 1

    with pytest.raises(HandlerTimeoutError) as caught:
        await bus.execute(Get())
    assert caught.value.seconds == 0.05


async def test_timeout_abandons_a_thread_handler_registered_with_abandon_on_cancel() -> None:
    bus = LocalRequestBus()
    gate = threading.Event()

    @bus.register(thread=True, abandon_on_cancel=True, modifiers=[timeout(0.05)])
    def blocking(query: Get) -> int:
        gate.wait(10)
        return 1

    try:
        with pytest.raises(HandlerTimeoutError) as caught:
            await bus.execute(Get())
    finally:
        gate.set()
    assert caught.value.handler.kind == "thread"


async def test_timeout_returns_the_late_result_of_a_thread_it_cannot_interrupt() -> None:
    bus = LocalRequestBus()
    gate = threading.Event()

    @bus.register(thread=True, modifiers=[timeout(0.05)])
    def blocking(query: Get) -> int:
        gate.wait(10)
        return 7

    async def open_the_gate_past_the_deadline() -> None:
        await anyio.sleep(0.1)
        gate.set()

    async with anyio.create_task_group() as group:
        group.start_soon(open_the_gate_past_the_deadline)
        assert await bus.execute(Get()) == 7


async def test_timeout_wraps_each_event_handler_on_its_own() -> None:
    bus = LocalEventBus(strategy="concurrent", modifiers=[timeout(0.2)])
    done: list[str] = []

    @bus.register
    async def stuck(event: Happened) -> None:
        await anyio.sleep_forever()

    @bus.register
    async def quick(event: Happened) -> None:
        done.append("quick")

    with pytest.raises(PublishError) as caught:
        await bus.publish(Happened())
    [failure] = caught.value.failures
    assert failure.handler.fn is stuck
    assert isinstance(failure.exception, HandlerTimeoutError)
    assert done == ["quick"]


async def test_timeout_on_a_stream_is_a_deadline_on_its_whole_iteration() -> None:
    bus = LocalRequestBus()
    log_: list[str] = []

    @bus.register(modifiers=[timeout(0.2)])
    async def items(query: Items) -> AsyncIterator[int]:
        try:
            yield 1
            await anyio.sleep_forever()
            yield 2
        finally:
            log_.append("closed")

    got: list[int] = []
    with pytest.raises(HandlerTimeoutError) as caught:
        async with bus.stream(Items()) as stream:
            async for item in stream:
                got.append(item)  # noqa: PERF401 - the items before the error count
    assert got == [1] and log_ == ["closed"]
    assert caught.value.handler.fn is items


async def test_timeout_never_cancels_the_consumer_of_a_stream_and_raises_at_the_next_item() -> None:
    bus = LocalRequestBus()
    log_: list[str] = []

    @bus.register(modifiers=[timeout(0.2)])
    async def items(query: Items) -> AsyncIterator[int]:
        try:
            log_.append("produced 1")
            yield 1
            log_.append("produced 2")
            yield 2
        finally:
            log_.append("closed")

    async with bus.stream(Items()) as stream:
        assert await anext(stream) == 1
        # The consumer's own code, past the deadline: it is not cancelled.
        await anyio.sleep(0.25)
        log_.append("consumer done")
        with pytest.raises(HandlerTimeoutError):
            await anext(stream)
    assert log_ == ["produced 1", "consumer done", "closed"]


async def test_timeout_bounds_the_opening_of_a_stream_too() -> None:
    bus = LocalRequestBus()

    @around
    async def slow_to_open(
        message: Any, kwargs: dict[str, Any], call_next: Next
    ) -> AsyncIterator[Any]:
        await anyio.sleep_forever()
        yield await call_next(message, kwargs)

    @bus.register(modifiers=[timeout(0.05), slow_to_open])
    async def items(query: Items) -> AsyncIterator[int]:
        yield 1

    with pytest.raises(HandlerTimeoutError):
        async with bus.stream(Items()) as stream:
            async for _ in stream:
                pass


async def test_timeout_closing_a_stream_early_closes_the_handler_generator() -> None:
    bus = LocalRequestBus(modifiers=[timeout(60)])
    log_: list[str] = []

    @bus.register
    async def items(query: Items) -> AsyncIterator[int]:
        try:
            for number in range(10):
                yield number
        finally:
            log_.append("closed")

    async with bus.stream(Items()) as stream:
        async for number in stream:
            if number == 1:
                break
    assert log_ == ["closed"]


@pytest.mark.parametrize(
    ("seconds", "error", "message"),
    [
        (
            "5",
            TypeError,
            "timeout('5'): seconds is a number of seconds (an int or float), not '5' (str); "
            "e.g. timeout(5.0)",
        ),
        (
            True,
            TypeError,
            "timeout(True): seconds is a number of seconds (an int or float), not True (bool); "
            "e.g. timeout(5.0)",
        ),
        (0, ValueError, "timeout(0): seconds=0 must be above 0 seconds; e.g. timeout(5.0)"),
        (
            float("nan"),
            ValueError,
            "timeout(nan): seconds=nan must be above 0 seconds; e.g. timeout(5.0)",
        ),
    ],
)
def test_timeout_checks_its_argument(seconds: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        timeout(seconds)
    assert str(caught.value) == message


# -- retry -------------------------------------------------------------------------------


async def test_retry_runs_the_rest_of_the_chain_again_until_it_succeeds() -> None:
    waits: list[int] = []
    seen: list[int] = []

    def backoff(attempt: int) -> float:
        waits.append(attempt)
        return 0

    async def inner(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        seen.append(message.n)
        return await call_next(message, kwargs)

    bus = LocalRequestBus(modifiers=[retry(backoff=backoff), inner])
    calls = 0

    @bus.register
    async def flaky(query: Get) -> int:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError(f"down {calls}")
        return query.n

    assert await bus.execute(Get(7)) == 7
    assert calls == 3 and waits == [1, 2] and seen == [7, 7, 7]


async def test_retry_gives_up_after_the_attempts_with_a_note_saying_how_many() -> None:
    bus = LocalRequestBus()
    calls = 0

    @bus.register(modifiers=[retry(attempts=4, backoff=no_wait)])
    async def down(query: Get) -> int:
        nonlocal calls
        calls += 1
        raise ConnectionError(f"down {calls}")

    with pytest.raises(ConnectionError) as caught:
        await bus.execute(Get())
    assert str(caught.value) == "down 4" and calls == 4
    assert caught.value.__notes__ == [
        f"retry: 4 attempts at {name_of(down)}, gave up: this is the last attempt's error."
    ]
    assert caught.value.__context__ is None  # the earlier attempts' errors are not chained


async def test_retry_retries_only_the_exceptions_of_on() -> None:
    bus = LocalRequestBus(modifiers=[retry(on=ConnectionError, backoff=no_wait)])
    raised: list[Exception] = []

    @bus.register
    async def fails(query: Get) -> int:
        raise raised.pop(0)

    raised[:] = [ValueError("wrong")]
    with pytest.raises(ValueError, match="wrong") as caught:
        await bus.execute(Get())
    assert not hasattr(caught.value, "__notes__")  # tried once: nothing to explain

    raised[:] = [ConnectionError("down"), ValueError("then wrong")]
    with pytest.raises(ValueError, match="then wrong") as caught:
        await bus.execute(Get())
    assert raised == []
    assert caught.value.__notes__ == [
        f"retry: 2 attempts at {name_of(fails)}, not retried: "
        f"ValueError is not in on=(ConnectionError,)."
    ]


async def test_retry_never_retries_a_cancellation() -> None:
    bus = LocalRequestBus(modifiers=[retry(on=(Exception,), backoff=no_wait)])
    outer = anyio.CancelScope()
    calls = 0

    @bus.register
    async def cancelled(query: Get) -> int:
        nonlocal calls
        calls += 1
        outer.cancel()
        await anyio.sleep_forever()
        return 1

    with outer:
        await bus.execute(Get())
    assert outer.cancelled_caught and calls == 1


async def test_retry_never_retries_a_mistake_in_the_call() -> None:
    waits: list[int] = []
    bus = LocalRequestBus(modifiers=[retry(backoff=lambda attempt: waits.append(attempt) or 0)])

    @bus.register
    async def needs_user(query: Get, user: str) -> str:
        return user

    with pytest.raises(MissingArgumentError) as caught:
        await bus.execute(Get())
    assert waits == []
    assert caught.value.__notes__ == [
        f"retry: 1 attempt at {name_of(needs_user)}, not retried: "
        f"a mistake in the call, which running it again cannot fix."
    ]


async def test_retry_retries_each_event_handler_on_its_own() -> None:
    bus = LocalEventBus(modifiers=[retry(backoff=no_wait)])
    calls = {"flaky": 0, "steady": 0}

    @bus.register
    async def flaky(event: Happened) -> None:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise ConnectionError("once")

    @bus.register
    async def steady(event: Happened) -> None:
        calls["steady"] += 1

    await bus.publish(Happened())
    assert calls == {"flaky": 2, "steady": 1}


async def test_retry_retries_a_sync_handler() -> None:
    bus = LocalRequestBus(modifiers=[retry(backoff=no_wait)])
    calls = 0

    @bus.register
    def flaky(query: Get) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("once")
        return calls

    assert await bus.execute(Get()) == 2


async def test_retry_waits_with_the_default_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    ranges: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        ranges.append((low, high))
        return 0.0

    monkeypatch.setattr(modifiers.random, "uniform", uniform)
    bus = LocalRequestBus(modifiers=[retry()])

    @bus.register
    async def down(query: Get) -> int:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        await bus.execute(Get())
    assert ranges == [(0.0, 0.1), (0.0, 0.2)]


def test_the_default_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    for attempt in range(1, 12):
        ceiling = min(10.0, 0.1 * 2 ** (attempt - 1))
        waits = [default_backoff(attempt) for _ in range(200)]
        assert all(0.0 <= wait <= ceiling for wait in waits)
        assert max(waits) > ceiling / 2  # spread over the range (fails with p = 2**-200)
    assert 0.0 <= default_backoff(100_000) <= 10.0  # no overflow far out


async def test_retry_retries_a_stream_that_fails_before_its_first_item() -> None:
    bus = LocalRequestBus()
    opened = 0
    waits: list[int] = []

    @bus.register(modifiers=[retry(backoff=lambda attempt: waits.append(attempt) or 0)])
    async def flaky_items(query: Items) -> AsyncIterator[int]:
        nonlocal opened
        opened += 1
        if opened < 3:
            raise ConnectionError("not yet")
        for number in range(query.n):
            await anyio.lowlevel.checkpoint()
            yield number

    assert [number async for number in bus.stream(Items(3))] == [0, 1, 2]
    assert opened == 3 and waits == [1, 2]


async def test_retry_gives_up_on_a_stream_that_never_produces_with_a_note() -> None:
    bus = LocalRequestBus()
    opened = 0

    @bus.register(modifiers=[retry(attempts=2, backoff=no_wait)])
    async def down(query: Items) -> AsyncIterator[int]:
        nonlocal opened
        opened += 1
        raise ConnectionError(f"down {opened}")
        yield 0

    with pytest.raises(ConnectionError) as caught:
        async for _ in bus.stream(Items()):
            pass
    assert str(caught.value) == "down 2" and opened == 2
    assert caught.value.__notes__ == [
        f"retry: 2 attempts at {name_of(down)}, gave up: this is the last attempt's error."
    ]


async def test_retry_does_not_retry_a_stream_once_it_produced_an_item() -> None:
    bus = LocalRequestBus()
    opened = 0

    @bus.register(modifiers=[retry(backoff=no_wait)])
    async def breaks(query: Items) -> AsyncIterator[int]:
        nonlocal opened
        opened += 1
        yield 1
        raise ConnectionError("mid-stream")

    got: list[int] = []
    with pytest.raises(ConnectionError, match="mid-stream"):
        async for number in bus.stream(Items()):
            got.append(number)  # noqa: PERF401 - the items before the error count
    assert got == [1] and opened == 1


async def test_retry_of_a_stream_with_a_timeout_per_attempt_and_early_close() -> None:
    bus = LocalRequestBus()
    opened = 0
    log_: list[str] = []

    @bus.register(modifiers=[retry(backoff=no_wait), timeout(0.2)])
    async def items(query: Items) -> AsyncIterator[int]:
        nonlocal opened
        opened += 1
        try:
            if opened == 1:
                await anyio.sleep_forever()  # the first attempt times out
            for number in range(10):
                yield number
        finally:
            log_.append(f"closed {opened}")

    async with bus.stream(Items()) as stream:
        async for number in stream:
            if number == 2:
                break
    assert opened == 2 and log_ == ["closed 1", "closed 2"]


async def test_retry_of_an_empty_stream() -> None:
    bus = LocalRequestBus(modifiers=[retry(backoff=no_wait)])

    @bus.register
    async def nothing(query: Items) -> AsyncIterator[int]:
        return
        yield

    assert [number async for number in bus.stream(Items())] == []


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"attempts": "3"},
            TypeError,
            "retry(attempts='3'): attempts is the number of tries, an int, not '3'; "
            "e.g. retry(attempts=3)",
        ),
        (
            {"attempts": 0},
            ValueError,
            "retry(attempts=0): attempts must be 1 or more (the first try counts)",
        ),
        (
            {"on": BaseException},
            TypeError,
            "retry(attempts=3, on=BaseException): on=BaseException is a BaseException that is "
            "not an Exception: retry never retries cancellation, KeyboardInterrupt or "
            "SystemExit; retry Exception subclasses, e.g. on=(ConnectionError,)",
        ),
        (
            {"on": (ValueError, KeyboardInterrupt)},
            TypeError,
            "retry(attempts=3, on=(ValueError, KeyboardInterrupt)): on=KeyboardInterrupt is a "
            "BaseException that is not an Exception: retry never retries cancellation, "
            "KeyboardInterrupt or SystemExit; retry Exception subclasses, e.g. "
            "on=(ConnectionError,)",
        ),
        (
            {"on": [ValueError]},
            TypeError,
            "retry(attempts=3, on=[<class 'ValueError'>]): on takes an exception class or a "
            "tuple of them (a tuple, not a list), not [<class 'ValueError'>]; e.g. "
            "retry(on=(ConnectionError, TimeoutError))",
        ),
        (
            {"on": ()},
            ValueError,
            "retry(attempts=3, on=()): on=() retries nothing; name the exceptions to retry",
        ),
        (
            {"backoff": 2},
            TypeError,
            "retry(attempts=3, backoff=2): backoff is a function from the attempt number to "
            "the seconds to wait, e.g. backoff=lambda attempt: 0.5 * attempt",
        ),
    ],
)
def test_retry_checks_its_arguments(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        retry(**kwargs)
    assert str(caught.value) == message


# -- log ---------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``clock(0.0, 0.25)``: what `log` reads, in turn, for the middleware made next."""

    def set_times(*times: float) -> None:
        ticks: Iterator[float] = iter(times)
        monkeypatch.setattr(modifiers, "_clock", lambda: next(ticks))

    return set_times


def fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key.startswith("mediator_")}


async def test_log_writes_one_record_per_call(
    caplog: pytest.LogCaptureFixture, clock: Callable[..., None]
) -> None:
    clock(10.0, 10.25)
    bus = LocalRequestBus(modifiers=[log()])

    @bus.register
    async def get(query: Get) -> int:
        return query.n

    with caplog.at_level(logging.DEBUG, logger="mediator.calls"):
        assert await bus.execute(Get(2)) == 2
    [record] = caplog.records
    assert record.name == "mediator.calls" and record.levelno == logging.DEBUG
    assert record.getMessage() == f"Get handled by {name_of(get)} in 250.00 ms"
    assert record.exc_info is None
    assert fields(record) == {
        "mediator_message_type": f"{__name__}.Get",
        "mediator_handler": name_of(get),
        "mediator_handler_kind": "async",
        "mediator_duration": 0.25,
        "mediator_outcome": "ok",
        "mediator_items": None,
    }


async def test_log_writes_a_failure_at_error_with_its_traceback(
    caplog: pytest.LogCaptureFixture, clock: Callable[..., None]
) -> None:
    clock(1.0, 1.5)
    bus = LocalRequestBus(modifiers=[log(level=logging.INFO)])

    @bus.register
    def fails(query: Get) -> int:
        raise ValueError("boom")

    with (
        caplog.at_level(logging.WARNING, logger="mediator.calls"),  # INFO is dropped
        pytest.raises(ValueError, match="boom") as caught,
    ):
        await bus.execute(Get())
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == f"Get failed in {name_of(fails)} after 500.00 ms (ValueError)"
    assert record.exc_info is not None and record.exc_info[1] is caught.value
    assert "ValueError: boom" in caplog.text  # the traceback is in the output
    assert fields(record)["mediator_outcome"] == "error"
    assert fields(record)["mediator_handler_kind"] == "sync"


async def test_log_writes_slow_calls_at_warning(
    caplog: pytest.LogCaptureFixture, clock: Callable[..., None]
) -> None:
    clock(0.0, 0.75, 1.0, 1.25)
    bus = LocalRequestBus(modifiers=[log(slow=0.5)])

    @bus.register
    async def get(query: Get) -> int:
        return 1

    with caplog.at_level(logging.DEBUG, logger="mediator.calls"):
        await bus.execute(Get())  # 0.75 s
        await bus.execute(Get())  # 0.25 s
    slow, quick = caplog.records
    assert slow.levelno == logging.WARNING
    assert slow.getMessage() == f"Get handled by {name_of(get)} in 750.00 ms: slow, above 0.5 s"
    assert quick.levelno == logging.DEBUG
    assert quick.getMessage() == f"Get handled by {name_of(get)} in 250.00 ms"


async def test_log_drops_what_the_logger_level_drops_but_not_slow_calls_or_errors(
    caplog: pytest.LogCaptureFixture, clock: Callable[..., None]
) -> None:
    clock(0.0, 0.1, 1.0, 2.0, 3.0, 3.1)
    bus = LocalRequestBus(modifiers=[log("tests.calls", slow=0.5)])
    outcomes = ["quick", "slow", "fail"]

    @bus.register
    async def get(query: Get) -> int:
        if outcomes.pop(0) == "fail":
            raise ValueError("boom")
        return 1

    with caplog.at_level(logging.WARNING, logger="tests.calls"):
        await bus.execute(Get())
        await bus.execute(Get())
        with pytest.raises(ValueError, match="boom"):
            await bus.execute(Get())
    assert [(r.name, r.levelname, fields(r)["mediator_outcome"]) for r in caplog.records] == [
        ("tests.calls", "WARNING", "ok"),
        ("tests.calls", "ERROR", "error"),
    ]


async def test_log_takes_a_logger_name_and_a_level_name(caplog: pytest.LogCaptureFixture) -> None:
    bus = LocalRequestBus(modifiers=[log("tests.named", level="info")])

    @bus.register
    async def get(query: Get) -> int:
        return 1

    with caplog.at_level(logging.INFO, logger="tests.named"):
        await bus.execute(Get())
    [record] = caplog.records
    assert (record.name, record.levelno) == ("tests.named", logging.INFO)


async def test_log_says_a_call_was_cancelled(
    caplog: pytest.LogCaptureFixture, clock: Callable[..., None]
) -> None:
    clock(0.0, 0.002)
    bus = LocalRequestBus(modifiers=[log()])
    outer = anyio.CancelScope()

    @bus.register
    async def cancelled(query: Get) -> int:
        outer.cancel()
        await anyio.sleep_forever()
        return 1

    with caplog.at_level(logging.DEBUG, logger="mediator.calls"), outer:
        await bus.execute(Get())
    [record] = caplog.records
    assert record.levelno == logging.DEBUG
    assert record.getMessage() == f"Get cancelled in {name_of(cancelled)} after 2.00 ms"
    assert fields(record)["mediator_outcome"] == "cancelled"


async def test_log_writes_one_record_per_event_handler(caplog: pytest.LogCaptureFixture) -> None:
    bus = LocalEventBus(modifiers=[log()])

    @bus.register
    async def first(event: Happened) -> None:
        pass

    @bus.register
    def second(event: Happened) -> None:
        pass

    with caplog.at_level(logging.DEBUG, logger="mediator.calls"):
        await bus.publish(Happened())
    assert [fields(r)["mediator_handler"] for r in caplog.records] == [
        name_of(first),
        name_of(second),
    ]


async def test_log_writes_a_stream_record_when_its_iteration_ends(
    caplog: pytest.LogCaptureFixture, clock: Callable[..., None]
) -> None:
    clock(0.0, 0.5, 1.0, 1.25, 2.0, 2.125)
    bus = LocalRequestBus(modifiers=[log()])
    closed: list[int] = []

    @bus.register
    async def items(query: Items) -> AsyncIterator[int]:
        try:
            for number in range(query.n):
                yield number
            if query.n == 2:
                raise ValueError("broken")
        finally:
            closed.append(query.n)

    with caplog.at_level(logging.DEBUG, logger="mediator.calls"):
        assert [number async for number in bus.stream(Items(3))] == [0, 1, 2]
        assert len(caplog.records) == 1
        async with bus.stream(Items(5)) as stream:
            async for number in stream:
                if number == 0:
                    break
        assert closed == [3, 5] and len(caplog.records) == 2  # written at the close
        with pytest.raises(ValueError, match="broken"):
            async for _ in bus.stream(Items(2)):
                pass
    exhausted, early, failed = caplog.records
    assert exhausted.getMessage() == f"Items handled by {name_of(items)} in 500.00 ms, 3 items"
    assert fields(exhausted)["mediator_items"] == 3
    assert fields(exhausted)["mediator_handler_kind"] == "stream"
    assert early.getMessage() == f"Items closed early by {name_of(items)} after 250.00 ms, 1 item"
    assert fields(early)["mediator_outcome"] == "closed"
    assert failed.levelno == logging.ERROR and failed.exc_info is not None
    assert failed.getMessage() == (
        f"Items failed in {name_of(items)} after 125.00 ms, 2 items (ValueError)"
    )


def test_log_prints_nothing_when_the_application_configured_no_logging() -> None:
    done = run_python(
        """
        import logging
        from dataclasses import dataclass

        import anyio

        from mediator import LocalRequestBus
        from mediator.modifiers import log

        bus = LocalRequestBus(modifiers=[log(slow=1e-9)])  # every call is slow


        @dataclass
        class Fail:
            pass


        @bus.register
        async def fail(query: Fail) -> None:
            raise ValueError("boom")


        async def main() -> None:
            try:
                await bus.execute(Fail())
            except ValueError:
                pass


        anyio.run(main)
        print(logging.getLogger("mediator").handlers, logging.getLogger("mediator.calls").handlers)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == "[] [<NullHandler (NOTSET)>]\n"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"logger": 3},
            TypeError,
            "log(3): logger is a logging.Logger or a logger name, not 3; "
            "e.g. log(logging.getLogger(__name__))",
        ),
        (
            {"level": 1.5},
            TypeError,
            "log(level=1.5): level is a logging level such as logging.INFO, not 1.5",
        ),
        (
            {"level": "LOUD"},
            ValueError,
            "log(level='LOUD'): level='LOUD' is not a logging level; use one of NOTSET, DEBUG, "
            "INFO, WARN, WARNING, ERROR, CRITICAL, FATAL, or logging.INFO etc.",
        ),
        (
            {"slow": "1"},
            TypeError,
            "log(slow='1'): slow is a number of seconds (an int or float), not '1' (str); "
            "e.g. log(slow=0.5)",
        ),
        (
            {"slow": -1},
            ValueError,
            "log(slow=-1): slow=-1 must be above 0 seconds; e.g. log(slow=0.5)",
        ),
    ],
)
def test_log_checks_its_arguments(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        log(**kwargs)
    assert str(caught.value) == message


# -- limit -------------------------------------------------------------------------------


async def test_limit_lets_n_calls_through_at_once() -> None:
    bus = LocalRequestBus(modifiers=[limit(2)])
    release = anyio.Event()
    running = most = 0
    entered: list[int] = []

    @bus.register
    async def work(query: Get) -> int:
        nonlocal running, most
        entered.append(query.n)
        running += 1
        most = max(most, running)
        try:
            await release.wait()
        finally:
            running -= 1
        return query.n

    results: list[int] = []

    async def call(n: int) -> None:
        results.append(await bus.execute(Get(n)))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            for n in range(5):
                group.start_soon(call, n)
                await anyio.wait_all_tasks_blocked()
            assert running == 2 and entered == [0, 1]
            release.set()
    assert most == 2 and sorted(entered) == sorted(results) == [0, 1, 2, 3, 4]


async def test_limit_gives_free_slots_to_the_waiting_calls_in_order() -> None:
    bus = LocalRequestBus(modifiers=[limit(1)])
    release = anyio.Event()
    entered: list[int] = []

    @bus.register
    async def work(query: Get) -> None:
        entered.append(query.n)
        await release.wait()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            for n in range(4):
                group.start_soon(bus.execute, Get(n))
                await anyio.wait_all_tasks_blocked()
            assert entered == [0]
            release.set()
    assert entered == [0, 1, 2, 3]


async def test_limit_is_shared_by_every_handler_it_wraps() -> None:
    bus = LocalRequestBus(modifiers=[limit(1)])
    release = anyio.Event()
    entered: list[str] = []

    @bus.register
    async def first(query: Get) -> None:
        entered.append("first")
        await release.wait()

    @bus.register
    async def second(query: Other) -> None:
        entered.append("second")
        await release.wait()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(bus.execute, Get())
            group.start_soon(bus.execute, Other())
            await anyio.wait_all_tasks_blocked()
            assert len(entered) == 1
            release.set()
    assert sorted(entered) == ["first", "second"]


async def test_limit_on_an_event_bus_bounds_its_handlers_together() -> None:
    bus = LocalEventBus(strategy="concurrent", modifiers=[limit(1)])
    release = anyio.Event()
    entered: list[str] = []

    @bus.register
    async def first(event: Happened) -> None:
        entered.append("first")
        await release.wait()

    @bus.register
    async def second(event: Happened) -> None:
        entered.append("second")
        await release.wait()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(bus.publish, Happened())
            await anyio.wait_all_tasks_blocked()
            assert len(entered) == 1  # trio starts tasks in any order
            release.set()
    assert sorted(entered) == ["first", "second"]


async def test_limit_holds_a_stream_slot_until_its_iteration_ends() -> None:
    bus = LocalRequestBus(modifiers=[limit(1)])
    done: list[int] = []

    @bus.register
    async def items(query: Items) -> AsyncIterator[int]:
        for number in range(query.n):
            yield number
        if query.n == 1:
            raise ValueError("broken")

    @bus.register
    async def get(query: Get) -> int:
        return query.n

    async def call(n: int) -> None:
        done.append(await bus.execute(Get(n)))

    with anyio.fail_after(5):
        stream = bus.stream(Items(5))
        async with stream as numbers:
            assert await anext(numbers) == 0
            async with anyio.create_task_group() as group:
                group.start_soon(call, 1)
                await anyio.wait_all_tasks_blocked()
                assert done == []  # the open stream holds the only slot
                await stream.aclose()  # closed early: the slot is free
        assert done == [1]
        assert [number async for number in bus.stream(Items(2))] == [0, 1]
        with pytest.raises(ValueError, match="broken"):
            async for _ in bus.stream(Items(1)):
                pass
        assert await bus.execute(Get(3)) == 3  # exhausted and failed streams gave it back


async def test_limit_lets_nested_calls_through_the_same_instance_take_their_own_slot() -> None:
    bus = LocalRequestBus(modifiers=[limit(2)])

    @bus.register
    async def outer(query: Get) -> int:
        return 1 + await bus.execute(Other())

    @bus.register
    async def inner(query: Other) -> int:
        return 1

    with anyio.fail_after(5):
        assert await bus.execute(Get()) == 2


async def test_a_cancelled_wait_for_a_slot_takes_no_slot() -> None:
    bus = LocalRequestBus(modifiers=[limit(1)])
    release = anyio.Event()

    @bus.register
    async def hold(query: Get) -> int:
        await release.wait()
        return query.n

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(bus.execute, Get())
            await anyio.wait_all_tasks_blocked()
            async with anyio.create_task_group() as waiters:
                waiters.start_soon(bus.execute, Get())
                await anyio.wait_all_tasks_blocked()
                waiters.cancel_scope.cancel()  # cancelled while waiting for the slot
            release.set()
        assert await bus.execute(Get(4)) == 4


#: Made at import time, outside any event loop, and used by the test below under asyncio
#: and then trio, with a call waiting for the slot each time.
SHARED_LIMIT = limit(1)


async def test_limit_made_outside_an_event_loop_works_under_each_backend() -> None:
    bus = LocalRequestBus(modifiers=[SHARED_LIMIT])
    release = anyio.Event()
    entered: list[int] = []

    @bus.register
    async def work(query: Get) -> None:
        entered.append(query.n)
        await release.wait()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(bus.execute, Get(1))
            await anyio.wait_all_tasks_blocked()
            group.start_soon(bus.execute, Get(2))
            await anyio.wait_all_tasks_blocked()
            assert entered == [1]
            release.set()
    assert entered == [1, 2]


@pytest.mark.parametrize(
    ("n", "error", "message"),
    [
        ("2", TypeError, "limit('2'): n is the number of calls let through at once, an int"),
        (2.0, TypeError, "limit(2.0): n is the number of calls let through at once, an int"),
        (0, ValueError, "limit(0): n must be 1 or more"),
    ],
)
def test_limit_checks_its_argument(n: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        limit(n)
    assert str(caught.value) == message


# -- trace -------------------------------------------------------------------------------


@dataclass
class Spans:
    tracer: Tracer
    exporter: InMemorySpanExporter

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()


@pytest.fixture
def spans() -> Spans:
    """A local provider (never the global one, which can be set once per process)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Spans(provider.get_tracer("tests"), exporter)


def code_attributes(fn: Callable[..., Any]) -> dict[str, Any]:
    return {
        "code.function.name": name_of(fn),
        "code.file.path": fn.__code__.co_filename,
        "code.line.number": fn.__code__.co_firstlineno,
    }


async def test_trace_makes_a_span_per_call_current_while_the_handler_runs(spans: Spans) -> None:
    bus = LocalRequestBus(modifiers=[trace(spans.tracer)])

    @bus.register
    async def get(query: Get) -> int:
        with spans.tracer.start_as_current_span("inside"):
            await anyio.lowlevel.checkpoint()
        return query.n

    assert await bus.execute(Get(2)) == 2
    inside, span = spans.finished()
    assert span.name == "Get"
    assert dict(span.attributes or {}) == {
        "mediator.message_type": f"{__name__}.Get",
        "mediator.handler": name_of(get),
        "mediator.handler_kind": "async",
        **code_attributes(get),
    }
    assert span.status.status_code == StatusCode.UNSET
    assert inside.parent is not None and inside.parent.span_id == span.context.span_id
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN  # detached again


async def test_trace_records_a_failure_on_the_span(spans: Spans) -> None:
    bus = LocalRequestBus(modifiers=[trace(spans.tracer)])

    @bus.register
    def fails(query: Get) -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await bus.execute(Get())
    [span] = spans.finished()
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "ValueError: boom"
    assert (span.attributes or {})["error.type"] == "ValueError"
    assert (span.attributes or {})["mediator.handler_kind"] == "sync"
    [event] = span.events
    assert event.name == "exception"
    assert (event.attributes or {})["exception.message"] == "boom"


async def test_trace_ends_a_cancelled_span_without_an_error(spans: Spans) -> None:
    bus = LocalRequestBus(modifiers=[trace(spans.tracer)])
    outer = anyio.CancelScope()

    @bus.register
    async def cancelled(query: Get) -> int:
        outer.cancel()
        await anyio.sleep_forever()
        return 1

    with outer:
        await bus.execute(Get())
    [span] = spans.finished()
    assert span.status.status_code == StatusCode.UNSET and span.events == ()


async def test_trace_makes_a_span_per_event_handler(spans: Spans) -> None:
    bus = LocalEventBus(strategy="concurrent", modifiers=[trace(spans.tracer)])

    @bus.register
    async def first(event: Happened) -> None:
        await anyio.lowlevel.checkpoint()

    @bus.register
    async def second(event: Happened) -> None:
        await anyio.lowlevel.checkpoint()

    with spans.tracer.start_as_current_span("publisher") as publisher:
        await bus.publish(Happened())
    *handled, outer = spans.finished()
    assert outer is not None and outer.name == "publisher"
    assert sorted((s.attributes or {})["mediator.handler"] for s in handled) == [
        name_of(first),
        name_of(second),
    ]
    for span in handled:
        assert span.name == "Happened"
        assert span.parent is not None
        assert span.parent.span_id == publisher.get_span_context().span_id


async def test_trace_spans_a_stream_and_is_current_only_while_it_produces(spans: Spans) -> None:
    bus = LocalRequestBus(modifiers=[trace(spans.tracer)])
    seen_by_consumer: list[object] = []

    @bus.register
    async def items(query: Items) -> AsyncIterator[int]:
        for number in range(query.n):
            with spans.tracer.start_as_current_span(f"fetch {number}"):
                await anyio.lowlevel.checkpoint()
            yield number

    with spans.tracer.start_as_current_span("consumer") as consumer:
        async with bus.stream(Items(5)) as stream:
            async for number in stream:
                seen_by_consumer.append(otel_trace.get_current_span())
                if number == 1:
                    break
            assert [s.name for s in spans.finished()] == ["fetch 0", "fetch 1"]
        # closed early: the stream's span has ended
    fetch_0, fetch_1, span, outer = spans.finished()
    assert outer.name == "consumer" and span.name == "Items"
    assert seen_by_consumer == [consumer, consumer]
    assert span.parent is not None and span.parent.span_id == consumer.get_span_context().span_id
    for fetch in (fetch_0, fetch_1):
        assert fetch.parent is not None and fetch.parent.span_id == span.context.span_id
    assert (span.attributes or {})["mediator.handler_kind"] == "stream"
    assert span.status.status_code == StatusCode.UNSET


async def test_trace_records_a_stream_failure_at_the_end_of_the_span(spans: Spans) -> None:
    bus = LocalRequestBus(modifiers=[trace(spans.tracer)])

    @bus.register
    async def items(query: Items) -> AsyncIterator[int]:
        yield 1
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        async for _ in bus.stream(Items()):
            pass
    [span] = spans.finished()
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "ValueError: broken"


def test_trace_follows_the_global_tracer_provider_set_after_it() -> None:
    done = run_python(
        """
        from dataclasses import dataclass

        import anyio
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        from mediator import LocalRequestBus
        from mediator.modifiers import trace as traced

        bus = LocalRequestBus(modifiers=[traced()])  # before any provider is set


        @dataclass
        class Get:
            pass


        @bus.register
        async def get(query: Get) -> int:
            return 1


        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        anyio.run(bus.execute, Get())
        [span] = exporter.get_finished_spans()
        print(span.name, span.instrumentation_scope.name)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Get mediator\n"


def test_trace_checks_its_tracer(spans: Spans) -> None:
    provider = TracerProvider()
    with pytest.raises(TypeError) as caught:
        trace(provider)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "trace(tracer=...) takes a Tracer, and this is a TracerProvider: pass "
        "trace(tracer=provider.get_tracer(__name__))"
    )
    with pytest.raises(TypeError) as caught:
        trace("tracer")  # type: ignore[arg-type]
    assert str(caught.value) == (
        "trace(tracer=...) takes an opentelemetry.trace.Tracer, not 'tracer'; e.g. "
        "trace(tracer=provider.get_tracer(__name__)), or trace() for the global one"
    )
    assert trace(spans.tracer).__qualname__ == "trace(tracer=opentelemetry.sdk.trace.Tracer)"


# -- together, at every level ------------------------------------------------------------


async def test_all_of_them_at_bus_registry_and_register_level_on_a_stream_closed_early(
    spans: Spans, caplog: pytest.LogCaptureFixture
) -> None:
    shared = limit(1)
    bus = LocalRequestBus(modifiers=[log(), trace(spans.tracer)])
    registry = RequestHandlerRegistry(modifiers=[timeout(60), shared])
    log_: list[str] = []

    @registry.register(modifiers=[retry(backoff=no_wait)])
    async def items(query: Items) -> AsyncIterator[int]:
        try:
            for number in range(10):
                yield number
        finally:
            log_.append("closed")

    @registry.register(modifiers=[retry(backoff=no_wait)])
    async def get(query: Get) -> int:
        return query.n

    bus.include(registry)
    with caplog.at_level(logging.DEBUG, logger="mediator.calls"), anyio.fail_after(5):
        async with bus.stream(Items()) as stream:
            async for number in stream:
                if number == 2:
                    break
        assert log_ == ["closed"]
        assert await bus.execute(Get(5)) == 5  # the stream gave its slot back
    assert [fields(r)["mediator_outcome"] for r in caplog.records] == ["closed", "ok"]
    assert [s.name for s in spans.finished()] == ["Items", "Get"]


async def test_all_of_them_on_an_event_registry(
    spans: Spans, caplog: pytest.LogCaptureFixture
) -> None:
    registry = EventHandlerRegistry(
        modifiers=[log(), trace(spans.tracer), timeout(60), limit(2), retry(backoff=no_wait)]
    )
    calls: list[str] = []

    @registry.register
    async def flaky(event: Happened) -> None:
        calls.append("flaky")
        if calls.count("flaky") == 1:
            raise ConnectionError("once")

    @registry.register
    def steady(event: Happened) -> None:
        calls.append("steady")

    bus = LocalEventBus(strategy="concurrent")
    bus.include(registry)
    with caplog.at_level(logging.DEBUG, logger="mediator.calls"):
        await bus.publish(Happened())
    assert sorted(calls) == ["flaky", "flaky", "steady"]
    assert [fields(r)["mediator_outcome"] for r in caplog.records] == ["ok", "ok"]
    assert len(spans.finished()) == 2


def test_the_middleware_are_accepted_by_registration_checks() -> None:
    handler_seen: list[Handler] = []

    async def spy(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        handler_seen.append(call_next.handler)
        return await call_next(message, kwargs)

    bus = LocalRequestBus(modifiers=[timeout(1), retry(), log(), limit(1), trace(), spy])

    @bus.register
    async def get(query: Get) -> int:
        return 1

    assert anyio.run(bus.execute, Get()) == 1
    assert handler_seen[0].fn is get


@pytest.mark.parametrize("factory", [log, retry, timeout, limit, trace])
def test_a_factory_given_instead_of_its_middleware_says_to_call_it(factory: Any) -> None:
    from mediator.errors import ModifierError

    with pytest.raises(ModifierError) as caught:
        LocalRequestBus(modifiers=[factory])
    name = factory.__name__
    assert caught.value.problem in ("not-async", "signature")
    assert str(caught.value).endswith(
        f"\nTip: Call it: `modifiers=[{name}(...)]` (`{name}()` makes the middleware)."
    )
