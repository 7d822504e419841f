"""The scenarios, and the direct ``await`` each contender is compared with.

Every ratio in the report is contender time / direct time, both measured in
the same worker process, in the same round.  Adapters register these very
handler functions where their library takes plain functions, so both sides of
a ratio run the same handler code.
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from bench.adapters.case import Case, drain, repeat, repeat_as_user, returns

#: scenario -> what one operation is (per item for the stream).
SCENARIOS = {
    "request": "request, 1 handler returning a value",
    "request_kwarg": "request + one injected kwarg",
    "request_modifier": "request through one pass-through middleware",
    "event_1": "event to 1 handler, awaited",
    "event_10": "event to 10 handlers, awaited",
    "event_10_concurrent": "event to 10 handlers, concurrently, awaited",
    "stream_1000": "stream of 1,000 items, per item",
}

#: Items per stream operation: stream results are reported per item.
STREAM_ITEMS = 1000


@dataclass
class Ping:
    value: int


@dataclass
class Tick:
    value: int


@dataclass
class Count:
    items: int


async def handle_ping(message: Ping) -> int:
    return message.value + 1


async def handle_ping_as(message: Ping, user: str) -> str:
    return user


#: How many times `handle_tick` ran: adapters check their event handlers did.
TICKS = [0]


async def handle_tick(event: Tick) -> None:
    TICKS[0] += 1


def tick_handlers(count: int) -> list[Callable[[Tick], Awaitable[None]]]:
    """``count`` distinct handler functions running the very code of `handle_tick`.

    A bus may refuse one function subscribed twice to an event, and the
    direct baseline awaits `handle_tick` itself: copies of the function share
    its code object, so both sides run the same code.
    """
    copies = []
    for index in range(count):
        copy = types.FunctionType(
            handle_tick.__code__, handle_tick.__globals__, f"handle_tick_{index}"
        )
        copy.__annotations__ = dict(handle_tick.__annotations__)
        copy.__qualname__ = copy.__name__
        copies.append(copy)
    return copies


async def count(message: Count) -> AsyncIterator[int]:
    for index in range(message.items):
        yield index


def direct_cases() -> dict[str, Case]:
    """The direct baseline: each handler awaited as it is, in the loop shape of the cases."""
    ping, tick, stream = Ping(1), Tick(1), Count(STREAM_ITEMS)

    async def ten_handlers(n: int) -> None:
        for _ in range(n):
            for _ in range(10):
                await handle_tick(tick)

    unchecked = returns(handle_ping, ping, 2)
    return {
        "request": Case(repeat(handle_ping, ping), unchecked),
        "request_kwarg": Case(repeat_as_user(handle_ping_as, ping), unchecked),
        "request_modifier": Case(repeat(handle_ping, ping), unchecked),
        "event_1": Case(repeat(handle_tick, tick), unchecked),
        "event_10": Case(ten_handlers, unchecked),
        # The same 10 sequential awaits: the ratio is the whole price of running them concurrently.
        "event_10_concurrent": Case(ten_handlers, unchecked),
        "stream_1000": Case(drain(count, stream), unchecked),
    }
