"""python-mediator 0.7.0, as its README shows (https://github.com/dlski/python-mediator).

Its package is also named ``mediator``: the worker loads it from its own
``--target`` folder.  Its LocalEventBus schedules handlers as background tasks
by default and returns before they ran; ``sync_mode=True``, its documented way
to wait for them, makes it do the same work as the other contenders.
"""

from __future__ import annotations

from typing import Any

from bench import baseline
from bench.adapters.case import Case
from bench.baseline import Ping, Tick
from mediator.common.modifiers import ModifierFactory
from mediator.event import LocalEventBus
from mediator.request import LocalRequestBus

NAME = "python-mediator 0.7.0"
REQUIREMENT = "python-mediator==0.7.0"
PIP_FLAGS = ("--ignore-requires-python", "--no-deps")


class PassThrough(ModifierFactory):
    def create(self, call: Any, **kwargs: Any) -> Any:
        async def passthrough(action: Any) -> Any:
            return await call(action)

        return passthrough


def cases() -> dict[str, Case | str]:
    requests = LocalRequestBus()
    with_user = LocalRequestBus()
    modified = LocalRequestBus(modifiers=[PassThrough()])
    one = LocalEventBus(sync_mode=True)
    ten = LocalEventBus(sync_mode=True)

    requests.register(baseline.handle_ping)
    modified.register(baseline.handle_ping)
    with_user.register(baseline.handle_ping_as)
    one.register(baseline.handle_tick)
    for _ in range(10):
        ten.register(baseline.handle_tick)

    ping, tick = Ping(1), Tick(1)

    async def request(n: int) -> None:
        for _ in range(n):
            await requests.execute(ping)

    async def request_kwarg(n: int) -> None:
        for _ in range(n):
            await with_user.execute(ping, user="ada")

    async def request_modifier(n: int) -> None:
        for _ in range(n):
            await modified.execute(ping)

    async def event_1(n: int) -> None:
        for _ in range(n):
            await one.publish(tick)

    async def event_10(n: int) -> None:
        for _ in range(n):
            await ten.publish(tick)

    async def check_request() -> None:
        assert await requests.execute(ping) == 2

    async def check_kwarg() -> None:
        assert await with_user.execute(ping, user="ada") == "ada"

    async def check_modifier() -> None:
        assert await modified.execute(ping) == 2

    def check_events(bus: Any, handlers: int) -> Any:
        async def check() -> None:
            before = baseline.TICKS[0]
            await bus.publish(tick)
            assert baseline.TICKS[0] - before == handlers

        return check

    return {
        "request": Case(request, check_request),
        "request_kwarg": Case(request_kwarg, check_kwarg),
        "request_modifier": Case(request_modifier, check_modifier),
        "event_1": Case(event_1, check_events(one, 1)),
        "event_10": Case(event_10, check_events(ten, 10)),
        "stream_1000": "no stream requests",
    }
