"""The scenarios, and the direct ``await`` each contender is compared with.

Every ratio in the report is contender time / direct time, both measured in
the same worker process, in the same round.  Adapters register these very
handler functions where their library takes plain functions, so both sides of
a ratio run the same handler code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from bench.adapters.case import Case

#: scenario -> what one operation is (per item for the stream).
SCENARIOS = {
    "request": "request, 1 handler returning a value",
    "request_kwarg": "request + one injected kwarg",
    "request_modifier": "request through one pass-through middleware",
    "event_1": "event to 1 handler, awaited",
    "event_10": "event to 10 handlers, awaited",
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


async def count(message: Count) -> AsyncIterator[int]:
    for index in range(message.items):
        yield index


async def _noop_check() -> None:
    return None


def direct_cases() -> dict[str, Case]:
    ping = Ping(1)
    tick = Tick(1)
    stream = Count(STREAM_ITEMS)

    async def request(n: int) -> None:
        for _ in range(n):
            await handle_ping(ping)

    async def request_kwarg(n: int) -> None:
        for _ in range(n):
            await handle_ping_as(ping, user="ada")

    async def event_1(n: int) -> None:
        for _ in range(n):
            await handle_tick(tick)

    async def event_10(n: int) -> None:
        for _ in range(n):
            for _ in range(10):
                await handle_tick(tick)

    async def stream_1000(n: int) -> None:
        for _ in range(n):
            async for _ in count(stream):
                pass

    return {
        "request": Case(request, _noop_check),
        "request_kwarg": Case(request_kwarg, _noop_check),
        "request_modifier": Case(request, _noop_check),
        "event_1": Case(event_1, _noop_check),
        "event_10": Case(event_10, _noop_check),
        "stream_1000": Case(stream_1000, _noop_check),
    }
