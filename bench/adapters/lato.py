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

from bench.adapters.case import Case, counts, repeat, repeat_as_user, returns
from bench.baseline import TICKS

NAME = "lato 0.13.0"


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

    async def execute_as(message: Ping, user: str) -> Any:
        # lato's way to give a value at call time: a transaction context holding it.
        async with with_user.transaction_context(user=user) as ctx:
            return await ctx.execute_async(message)

    return {
        "request": Case(
            repeat(requests.execute_async, ping), returns(requests.execute_async, ping, 2)
        ),
        "request_kwarg": Case(
            repeat_as_user(execute_as, ping), returns(execute_as, ping, "ada", user="ada")
        ),
        "request_modifier": Case(
            repeat(modified.execute_async, ping), returns(modified.execute_async, ping, 2)
        ),
        "event_1": Case(repeat(one.publish_async, tick), counts(one.publish_async, tick, TICKS, 1)),
        "event_10": Case(
            repeat(ten.publish_async, tick), counts(ten.publish_async, tick, TICKS, 10)
        ),
        "event_10_concurrent": "publish_async() awaits the handlers one after another; "
        "no concurrent mode",
        "stream_1000": "no stream requests",
    }
