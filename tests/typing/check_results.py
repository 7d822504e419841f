"""Static typing of results: an expected type must not hide a request's result type.

Not run: type checkers read it (tests/test_typing.py runs them under mypy --strict
and pyright).  Lines marked ``# type: ignore[...]`` must be rejected by both.

Given an expected type, mypy used to fall back to the overload for untyped
messages (result ``Any``), so ``x: int = await bus.execute(GetName())`` passed;
pyright always rejected it.  What awaits, schedules or annotates a result
(asyncio, anyio) must keep its precise type.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, assert_type

import anyio

from mediator import LocalRequestBus, Request, Stream, StreamRequest
from mediator.request import RequestExecutor

T = TypeVar("T")


@dataclass
class User:
    name: str


@dataclass
class GetUser(Request[User]):
    user_id: int


@dataclass
class GetName(Request[str]):
    pass


@dataclass
class ListNames(StreamRequest[str]):
    pass


@dataclass
class Plain:
    pass


bus = LocalRequestBus()


def takes_int(value: int) -> None: ...


def takes_awaitable_int(value: Awaitable[int]) -> None: ...


def takes_names(names: AsyncIterable[int]) -> None: ...


# -- an expected type that fits is accepted ---------------------------------------------


async def relay(request: Request[T]) -> T:
    return await bus.execute(request)


def relay_stream(request: StreamRequest[T]) -> Stream[T]:
    return bus.stream(request)


async def fitting(anything: Any) -> None:
    name: str = await bus.execute(GetName())
    maybe: str | None = await bus.execute(GetName())
    wider: object = await bus.execute(GetName())
    names: Sequence[str] = await bus.execute(GetName())
    pending: Awaitable[str] = bus.execute(GetName())
    coroutine: Coroutine[Any, Any, str] = bus.execute(GetName())
    items: Stream[str] = bus.stream(ListNames())
    iterable: AsyncIterable[object] = bus.stream(ListNames())
    listed: list[str] = [n async for n in bus.stream(ListNames())]
    assert_type(await relay(GetName()), str)
    assert_type(relay_stream(ListNames()), Stream[str])
    # Untyped messages (and Any) stay Any, whatever is expected.
    untyped: int = await bus.execute(Plain())
    untyped_items: Stream[int] = bus.stream(Plain())
    pending_any = assert_type(bus.execute(anything), Coroutine[Any, Any, Any])
    assert_type(await pending_any, Any)
    assert_type(bus.stream(anything), Stream[Any])
    del name, maybe, wider, names, pending, coroutine, items, iterable, listed
    del untyped, untyped_items


# -- asyncio and anyio see the result type ------------------------------------------


async def scheduled() -> None:
    # (mypy types a gather() of two or more as Any, as it did before: only these are checked.)
    assert_type(await asyncio.gather(bus.execute(GetUser(1))), tuple[User])
    assert_type(await asyncio.gather(*[bus.execute(GetUser(i)) for i in (1, 2)]), list[User])
    assert_type(asyncio.create_task(bus.execute(GetUser(1))), asyncio.Task[User])
    assert_type(await asyncio.wait_for(bus.execute(GetUser(1)), 1), User)
    async with asyncio.TaskGroup() as group:
        assert_type(group.create_task(bus.execute(GetUser(1))), asyncio.Task[User])
        group.create_task(bus.execute(Plain()))
    async with anyio.create_task_group() as tg:
        tg.start_soon(bus.execute, GetUser(1))
        tg.start_soon(bus.execute, Plain())
    executor: RequestExecutor = bus  # python-mediator's interface (its results are Any)
    await executor.execute(GetUser(1))


def run() -> None:
    assert_type(asyncio.run(bus.execute(GetUser(1))), User)


# -- what must be rejected ----------------------------------------------------------


async def returns_int() -> int:
    return await bus.execute(GetName())  # type: ignore[return-value]


def returns_int_stream() -> Stream[int]:
    return bus.stream(ListNames())  # type: ignore[return-value]


async def mistaken() -> None:
    wrong: int = await bus.execute(GetName())  # type: ignore[assignment]
    takes_int(await bus.execute(GetName()))  # type: ignore[arg-type]
    takes_awaitable_int(bus.execute(GetName()))  # type: ignore[arg-type]
    task: asyncio.Task[int] = asyncio.create_task(bus.execute(GetName()))  # type: ignore[arg-type]
    wrong_items: Stream[int] = bus.stream(ListNames())  # type: ignore[assignment]
    takes_names(bus.stream(ListNames()))  # type: ignore[arg-type]
    wrong_list: list[int] = [n async for n in bus.stream(ListNames())]  # type: ignore[misc]
    async for n in bus.stream(ListNames()):
        takes_int(n)  # type: ignore[arg-type]
    del wrong, task, wrong_items, wrong_list
