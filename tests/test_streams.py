"""Stream handlers: async generators served by bus.stream(), closed promptly."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from mediator import (
    HandlerNotFoundError,
    LocalRequestBus,
    MissingArgumentError,
    Stream,
    StreamRequest,
)
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
