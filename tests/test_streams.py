"""Stream handlers: async generators served by bus.stream(), closed promptly."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from mediator import (
    AroundMiddleware,
    HandlerNotFoundError,
    LocalRequestBus,
    MissingArgumentError,
    Next,
    Stream,
    StreamRequest,
    around,
)
from mediator.common.factory import CallableHandlerPolicy
from mediator.common.modifiers import ActionCallType, ActionResult, ActionSubject, ModifierFactory


@dataclass
class Count(StreamRequest[int]):
    up_to: int


@dataclass
class Total:
    pass


def counting_bus(log: list[str]) -> LocalRequestBus:
    bus = LocalRequestBus()

    @bus.register
    async def count(query: Count, step: int = 1) -> AsyncIterator[int]:
        log.append("start")
        try:
            for number in range(0, query.up_to, step):
                await anyio.lowlevel.checkpoint()
                yield number
        finally:
            log.append("closed")

    return bus


async def test_stream_yields_the_handler_items_with_injection() -> None:
    log: list[str] = []
    bus = counting_bus(log)
    stream = bus.stream(Count(6), step=2, unrelated="dropped")
    assert isinstance(stream, Stream)
    assert log == []  # nothing runs until iterated
    assert [n async for n in stream] == [0, 2, 4]
    assert log == ["start", "closed"]


async def test_break_inside_async_with_closes_the_generator_at_once() -> None:
    log: list[str] = []
    bus = counting_bus(log)
    async with bus.stream(Count(100)) as numbers:
        async for number in numbers:
            if number == 2:
                break
    assert log == ["start", "closed"]


async def test_an_exception_in_the_consumer_closes_the_generator() -> None:
    log: list[str] = []
    bus = counting_bus(log)
    with pytest.raises(ValueError, match="consumer failed"):
        async with bus.stream(Count(100)) as numbers:
            async for _ in numbers:
                raise ValueError("consumer failed")
    assert log == ["start", "closed"]


async def test_aclosing_works_too() -> None:
    log: list[str] = []
    bus = counting_bus(log)
    async with contextlib.aclosing(bus.stream(Count(100))) as numbers:
        async for number in numbers:
            if number == 1:
                break
    assert log == ["start", "closed"]


async def test_cancelling_the_consumer_closes_the_generator() -> None:
    log: list[str] = []
    bus = counting_bus(log)
    reading = anyio.Event()

    async def consume() -> None:
        async with bus.stream(Count(10**9)) as numbers:
            async for _ in numbers:
                reading.set()

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(consume)
        await reading.wait()
        task_group.cancel_scope.cancel()
    assert log == ["start", "closed"]


async def test_closing_a_stream_that_never_started_is_harmless() -> None:
    log: list[str] = []
    bus = counting_bus(log)
    async with bus.stream(Count(3)):
        pass
    assert log == []


async def test_execute_on_a_stream_type_and_stream_on_a_plain_type_say_what_to_use() -> None:
    bus = counting_bus([])

    @bus.register
    async def total(query: Total) -> int:
        return 0

    with pytest.raises(HandlerNotFoundError) as caught:
        await bus.execute(Count(1))
    assert (caught.value.stream, caught.value.other) == (False, bus.handlers[0])
    assert bus.handlers[0].kind == "stream"
    with pytest.raises(HandlerNotFoundError) as caught:
        bus.stream(Total())
    assert (caught.value.stream, caught.value.other) == (True, bus.handlers[1])
    with pytest.raises(HandlerNotFoundError) as caught:
        bus.stream(1)
    assert (caught.value.message_type, caught.value.registered) == (int, (Count,))


async def test_a_type_can_have_both_a_stream_and_a_plain_handler() -> None:
    bus = counting_bus([])

    @bus.register
    async def count_total(query: Count) -> int:
        return query.up_to

    assert await bus.execute(Count(3)) == 3
    assert [n async for n in bus.stream(Count(3))] == [0, 1, 2]


async def test_argument_errors_are_raised_by_stream_itself() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def items(query: Count, user: str) -> AsyncIterator[int]:
        yield 1

    with pytest.raises(MissingArgumentError) as caught:
        bus.stream(Count(1))
    assert caught.value.parameters == ("user",)


async def test_modifiers_see_the_iterator_as_the_result_and_may_wrap_it() -> None:
    log: list[str] = []

    class Doubling(ModifierFactory):
        def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
            async def doubled(action: ActionSubject) -> ActionResult:
                log.append(f"modifier {type(action.subject).__name__}")
                result = await call(action)
                inner: AsyncIterator[int] = result.result

                async def wrapped() -> AsyncIterator[int]:
                    try:
                        async for item in inner:
                            yield item * 2
                    finally:
                        await inner.aclose()  # type: ignore[attr-defined]

                return ActionResult(wrapped())

            return doubled

    bus = LocalRequestBus(modifiers=[Doubling()])

    @bus.register
    async def count(query: Count) -> AsyncIterator[int]:
        try:
            for number in range(query.up_to):
                yield number
        finally:
            log.append("closed")

    assert [n async for n in bus.stream(Count(3))] == [0, 2, 4]
    assert log == ["modifier Count", "closed"]
    log.clear()
    async with bus.stream(Count(100)) as numbers:
        async for number in numbers:
            if number == 4:
                break
    assert log == ["modifier Count", "closed"]


# -- middleware around a stream ---------------------------------------------------------


def spanning(log: list[str], name: str = "mw") -> AroundMiddleware:
    """An around middleware that logs its enter, its exit and what ended the call."""

    @around
    async def middleware(
        message: Any, kwargs: dict[str, Any], call_next: Next
    ) -> AsyncIterator[Any]:
        log.append(f"{name} enter")
        try:
            yield await call_next(message, kwargs)
        except BaseException as error:
            log.append(f"{name} saw {type(error).__name__}")
            raise
        finally:
            log.append(f"{name} exit")

    return middleware


def logged_bus(log: list[str], *modifiers: Any, fail_at: int | None = None) -> LocalRequestBus:
    bus = LocalRequestBus(modifiers=list(modifiers))

    @bus.register
    async def items(query: Count) -> AsyncIterator[int]:
        try:
            for number in range(1, query.up_to + 1):
                if number == fail_at:
                    raise ValueError(f"item {number} failed")
                log.append(f"item {number}")
                yield number
        finally:
            log.append("handler finally")

    return bus


async def test_without_modifiers_the_stream_iterates_the_handlers_own_generator() -> None:
    bus = counting_bus([])
    stream = bus.stream(Count(2))
    iterator = stream.__aiter__()
    assert iterator.ag_code.co_name == "count"  # type: ignore[attr-defined]
    assert [n async for n in iterator] == [0, 1]


async def test_a_plain_middleware_returns_before_the_first_item() -> None:
    # The pitfall `around` exists for: the middleware's code after `await call_next`
    # runs when the iterator is returned, before the stream has produced anything.
    log: list[str] = []

    async def plain(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        log.append(f"mw enter ({call_next.handler.kind})")
        try:
            return await call_next(message, kwargs)
        finally:
            log.append("mw exit")

    bus = logged_bus(log, plain)
    assert [n async for n in bus.stream(Count(2))] == [1, 2]
    assert log == ["mw enter (stream)", "mw exit", "item 1", "item 2", "handler finally"]


async def test_around_spans_the_whole_iteration() -> None:
    log: list[str] = []
    bus = logged_bus(log, spanning(log))
    stream = bus.stream(Count(2))
    assert log == []  # nothing runs until iterated
    assert [n async for n in stream] == [1, 2]
    assert log == ["mw enter", "item 1", "item 2", "handler finally", "mw exit"]


async def test_break_inside_async_with_runs_the_teardown_at_close() -> None:
    log: list[str] = []
    bus = logged_bus(log, spanning(log))
    async with bus.stream(Count(100)) as numbers:
        async for number in numbers:
            if number == 2:
                break
        log.append("after break")
    assert log == [
        "mw enter",
        "item 1",
        "item 2",
        "after break",
        "handler finally",
        "mw saw GeneratorExit",
        "mw exit",
    ]


async def test_aclosing_runs_the_teardown_too() -> None:
    log: list[str] = []
    bus = logged_bus(log, spanning(log))
    async with contextlib.aclosing(bus.stream(Count(100))) as numbers:
        async for _ in numbers:
            break
    assert log == ["mw enter", "item 1", "handler finally", "mw saw GeneratorExit", "mw exit"]


async def test_a_consumer_exception_closes_the_stream_and_the_middleware() -> None:
    log: list[str] = []
    bus = logged_bus(log, spanning(log))
    with pytest.raises(KeyError, match="consumer"):
        async with bus.stream(Count(100)) as numbers:
            async for _ in numbers:
                raise KeyError("consumer")
    # The consumer's own error is not the middleware's: it sees the close.
    assert log == ["mw enter", "item 1", "handler finally", "mw saw GeneratorExit", "mw exit"]


async def test_cancelling_the_consumer_runs_the_teardown() -> None:
    log: list[str] = []
    bus = logged_bus(log, spanning(log))
    reading = anyio.Event()

    async def consume() -> None:
        async with bus.stream(Count(10**9)) as numbers:
            async for _ in numbers:
                reading.set()
                await anyio.sleep_forever()

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(consume)
        await reading.wait()
        task_group.cancel_scope.cancel()
    assert log == ["mw enter", "item 1", "handler finally", "mw saw GeneratorExit", "mw exit"]


async def test_cancelling_while_the_handler_waits_is_raised_at_the_middlewares_yield() -> None:
    log: list[str] = []
    bus = LocalRequestBus(modifiers=[spanning(log)])
    waiting = anyio.Event()

    @bus.register
    async def items(query: Count) -> AsyncIterator[int]:
        try:
            yield 1
            waiting.set()
            await anyio.sleep_forever()
        finally:
            log.append("handler finally")

    async def consume() -> None:
        async with bus.stream(Count(2)) as numbers:
            async for number in numbers:
                log.append(f"got {number}")  # noqa: PERF401 - read while it streams

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(consume)
        await waiting.wait()
        task_group.cancel_scope.cancel()
    cancelled = anyio.get_cancelled_exc_class().__name__
    assert log == ["mw enter", "got 1", "handler finally", f"mw saw {cancelled}", "mw exit"]


async def test_a_handler_error_while_streaming_is_raised_at_the_middlewares_yield() -> None:
    log: list[str] = []
    bus = logged_bus(log, spanning(log), fail_at=3)
    seen: list[int] = []
    with pytest.raises(ValueError, match="item 3 failed") as caught:
        async for number in bus.stream(Count(5)):
            seen.append(number)  # noqa: PERF401 - kept when the stream raises
    assert seen == [1, 2]
    assert caught.value.args == ("item 3 failed",)
    assert log == [
        "mw enter",
        "item 1",
        "item 2",
        "handler finally",
        "mw saw ValueError",
        "mw exit",
    ]


async def test_a_middleware_may_catch_a_streaming_error_and_end_the_stream() -> None:
    log: list[str] = []

    @around
    async def tolerant(message: Any, kwargs: dict[str, Any], call_next: Next) -> AsyncIterator[Any]:
        try:
            yield await call_next(message, kwargs)
        except ValueError as error:
            log.append(f"caught {error}")

    bus = logged_bus(log, tolerant, fail_at=2)
    assert [n async for n in bus.stream(Count(5))] == [1]
    assert log == ["item 1", "handler finally", "caught item 2 failed"]


async def test_a_middleware_may_replace_the_items() -> None:
    log: list[str] = []

    @around
    async def doubled(message: Any, kwargs: dict[str, Any], call_next: Next) -> AsyncIterator[Any]:
        items = await call_next(message, kwargs)

        async def double() -> AsyncIterator[int]:
            async with contextlib.aclosing(items):
                async for item in items:
                    yield item * 2

        try:
            yield double()
        finally:
            log.append("mw exit")

    bus = logged_bus(log, doubled)
    async with bus.stream(Count(100)) as numbers:
        async for number in numbers:
            if number == 4:
                break
    assert log == ["item 1", "item 2", "handler finally", "mw exit"]


async def test_a_middleware_yielding_twice_on_a_stream_is_an_error_once_it_ends() -> None:
    log: list[str] = []

    @around
    async def twice(message: Any, kwargs: dict[str, Any], call_next: Next) -> AsyncIterator[Any]:
        try:
            yield await call_next(message, kwargs)
            yield None
        finally:
            log.append("mw exit")

    bus = logged_bus(log, twice)
    seen: list[int] = []
    with pytest.raises(RuntimeError, match=r"twice .* yielded more than once"):
        async for number in bus.stream(Count(2)):
            seen.append(number)  # noqa: PERF401 - kept when the stream raises
    assert seen == [1, 2]
    assert log == ["item 1", "item 2", "handler finally", "mw exit"]


async def test_middleware_nest_and_close_innermost_first() -> None:
    log: list[str] = []

    async def plain(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        log.append("plain")
        return await call_next(message, kwargs)

    class Tagged(ModifierFactory):
        def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
            async def tagged(action: ActionSubject) -> ActionResult:
                log.append("factory")
                return await call(action)

            return tagged

    bus = logged_bus(log, spanning(log, "outer"), plain, Tagged(), spanning(log, "inner"))
    async with bus.stream(Count(5)) as numbers:
        async for number in numbers:
            if number == 1:
                break
    assert log == [
        "outer enter",
        "plain",
        "factory",
        "inner enter",
        "item 1",
        "handler finally",
        "inner saw GeneratorExit",
        "inner exit",
        "outer saw GeneratorExit",
        "outer exit",
    ]


async def test_a_stream_that_never_started_runs_no_middleware() -> None:
    log: list[str] = []
    bus = logged_bus(log, spanning(log))
    async with bus.stream(Count(3)):
        pass
    assert log == []


async def test_one_middleware_serves_requests_and_streams() -> None:
    # What a limit, a timer or a session needs: held for the whole call, whatever it is.
    log: list[str] = []
    limiter = anyio.CapacityLimiter(1)

    @around
    async def limited(message: Any, kwargs: dict[str, Any], call_next: Next) -> AsyncIterator[Any]:
        async with limiter:
            log.append(f"acquired for {call_next.handler.kind}")
            yield await call_next(message, kwargs)
        log.append("released")

    bus = logged_bus(log, limited)

    @bus.register
    async def total(query: Total) -> int:
        assert limiter.borrowed_tokens == 1
        return 42

    assert await bus.execute(Total()) == 42
    async for _ in bus.stream(Count(1)):
        assert limiter.borrowed_tokens == 1
    assert limiter.borrowed_tokens == 0
    assert log == [
        "acquired for async",
        "released",
        "acquired for stream",
        "item 1",
        "handler finally",
        "released",
    ]


# -- argument errors with middleware ---------------------------------------------------


def needing_bus(log: list[str], *modifiers: Any) -> LocalRequestBus:
    bus = LocalRequestBus(modifiers=list(modifiers))

    @bus.register
    async def items(query: Count, user: str, session: str, limit: int = 10) -> AsyncIterator[str]:
        log.append("handler")
        yield f"{user}@{session}"

    return bus


async def test_a_missing_argument_is_raised_by_stream_itself_with_middleware() -> None:
    log: list[str] = []

    async def plain(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        log.append("plain")
        return await call_next(message, kwargs)

    bus = needing_bus(log, plain, spanning(log))
    with pytest.raises(MissingArgumentError) as caught:
        bus.stream(Count(1), session="s1", limit=5)
    error = caught.value
    assert (error.parameters, error.given, error.problem) == (
        ("user",),
        ("session", "limit"),
        "missing",
    )
    assert error.handler is bus.handlers[0]
    assert error.__notes__ == [
        "bus.stream() checks this before the handler's middleware run: a middleware "
        "that adds it says so with @around(provides=['user'])"
    ]
    with pytest.raises(MissingArgumentError) as caught:
        bus.stream(Count(1))
    assert caught.value.parameters == ("user", "session")
    assert log == []  # no middleware ran
    assert [item async for item in bus.stream(Count(1), user="ada", session="s1")] == ["ada@s1"]
    assert log == ["plain", "mw enter", "handler", "mw exit"]


async def test_arguments_a_middleware_provides_count_as_given() -> None:
    log: list[str] = []

    @around(provides=["session"])
    async def with_session(
        message: Any, kwargs: dict[str, Any], call_next: Next
    ) -> AsyncIterator[Any]:
        log.append("open session")
        try:
            yield await call_next(message, {**kwargs, "session": "s1"})
        finally:
            log.append("close session")

    bus = needing_bus(log, with_session)
    assert [item async for item in bus.stream(Count(1), user="ada")] == ["ada@s1"]
    assert log == ["open session", "handler", "close session"]
    with pytest.raises(MissingArgumentError) as caught:
        bus.stream(Count(1))
    assert (caught.value.parameters, caught.value.given) == (("user",), ())


async def test_a_provided_argument_the_middleware_does_not_give_fails_at_the_first_item() -> None:
    log: list[str] = []

    @around(provides=["session"])
    async def forgetful(
        message: Any, kwargs: dict[str, Any], call_next: Next
    ) -> AsyncIterator[Any]:
        try:
            yield await call_next(message, kwargs)
        finally:
            log.append("mw exit")

    bus = needing_bus(log, forgetful)
    stream = bus.stream(Count(1), user="ada")
    with pytest.raises(MissingArgumentError) as caught:
        await stream.__aiter__().__anext__()
    assert (caught.value.parameters, caught.value.given) == (("session",), ("user",))
    assert log == ["mw exit"]


async def test_the_check_names_renamed_parameters_as_the_call_passes_them() -> None:
    bus = LocalRequestBus(modifiers=[spanning([])])

    @bus.register(policies=[CallableHandlerPolicy(arg_map={"current_user": "user"})])
    async def items(query: Count, user: str) -> AsyncIterator[str]:
        yield user

    with pytest.raises(MissingArgumentError) as caught:
        bus.stream(Count(1), user_name="ada")
    assert (caught.value.parameters, caught.value.given) == (("current_user",), ("user_name",))
    assert [u async for u in bus.stream(Count(1), current_user="ada")] == ["ada"]


async def test_a_chain_with_a_factory_is_not_checked_before_it_runs() -> None:
    # A factory may add any argument to `action.inject`, and cannot say which: the
    # handler's binding reports what is missing, when the stream starts.
    class InjectUser(ModifierFactory):
        def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
            async def inject(action: ActionSubject) -> ActionResult:
                if action.subject.up_to > 0:
                    action.inject["user"] = "from-factory"
                return await call(action)

            return inject

    log: list[str] = []
    bus = needing_bus(log, InjectUser(), spanning(log))
    assert [i async for i in bus.stream(Count(1), session="s1")] == ["from-factory@s1"]
    stream = bus.stream(Count(0), session="s1")
    with pytest.raises(MissingArgumentError) as caught:
        await stream.__aiter__().__anext__()
    assert (caught.value.parameters, caught.value.given) == (("user",), ("session",))
