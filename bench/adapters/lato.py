"""lato 0.13.0, as its documentation shows (https://lato.readthedocs.io).

Handlers are registered with ``@app.handler(MessageType)`` and run by
``execute_async``/``publish_async``; values given at call time go through a
transaction context (``app.transaction_context(user=...)``), lato's
documented way to inject per-call dependencies; middleware is a
``@app.transaction_middleware`` function.
"""

from __future__ import annotations

from typing import Any

from lato import Application, Command, Event

from bench.adapters.case import Case
from bench.baseline import TICKS

NAME = "lato 0.13.0"
REQUIREMENT = "lato==0.13.0"
PIP_FLAGS: tuple[str, ...] = ()


class Ping(Command):
    value: int


class Tick(Event):
    value: int


def cases() -> dict[str, Case | str]:
    requests, with_user, modified = Application(), Application(), Application()
    one, ten = Application(), Application()

    async def handle_ping(message: Ping) -> int:
        return message.value + 1

    async def handle_ping_as(message: Ping, user: str) -> str:
        return user

    requests.handler(Ping)(handle_ping)
    modified.handler(Ping)(handle_ping)
    with_user.handler(Ping)(handle_ping_as)

    @modified.transaction_middleware
    async def passthrough(ctx: Any, call_next: Any) -> Any:
        return await call_next()

    def tick_handler() -> Any:
        async def handle_tick(event: Tick) -> None:
            TICKS[0] += 1

        return handle_tick

    one.handler(Tick)(tick_handler())
    for _ in range(10):
        ten.handler(Tick)(tick_handler())

    ping, tick = Ping(value=1), Tick(value=1)

    async def request(n: int) -> None:
        for _ in range(n):
            await requests.execute_async(ping)

    async def request_kwarg(n: int) -> None:
        for _ in range(n):
            async with with_user.transaction_context(user="ada") as ctx:
                await ctx.execute_async(ping)

    async def request_modifier(n: int) -> None:
        for _ in range(n):
            await modified.execute_async(ping)

    async def event_1(n: int) -> None:
        for _ in range(n):
            await one.publish_async(tick)

    async def event_10(n: int) -> None:
        for _ in range(n):
            await ten.publish_async(tick)

    async def check_request() -> None:
        assert await requests.execute_async(ping) == 2

    async def check_kwarg() -> None:
        async with with_user.transaction_context(user="ada") as ctx:
            assert await ctx.execute_async(ping) == "ada"

    async def check_modifier() -> None:
        assert await modified.execute_async(ping) == 2

    def check_events(app: Application, handlers: int) -> Any:
        async def check() -> None:
            before = TICKS[0]
            await app.publish_async(tick)
            assert TICKS[0] - before == handlers

        return check

    return {
        "request": Case(request, check_request),
        "request_kwarg": Case(request_kwarg, check_kwarg),
        "request_modifier": Case(request_modifier, check_modifier),
        "event_1": Case(event_1, check_events(one, 1)),
        "event_10": Case(event_10, check_events(ten, 10)),
        "stream_1000": "no stream requests",
    }
