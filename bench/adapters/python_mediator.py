"""python-mediator 0.7.0, as its README shows (https://github.com/dlski/python-mediator).

Its package is also named ``mediator``: the worker loads it from its own
``--target`` folder.  Its LocalEventBus schedules handlers as background tasks
by default and returns before they ran; ``sync_mode=True``, its documented way
to wait for them, makes it do the same work as the other contenders.  That
awaited mode runs the handlers as tasks under ``asyncio.wait``: concurrently,
so event_10 and event_10_concurrent are one and the same case.
"""

from __future__ import annotations

from typing import Any

from bench import baseline
from bench.adapters.case import Case, counts, repeat, repeat_as_user, returns
from bench.baseline import Ping, Tick
from mediator.common.modifiers import ModifierFactory
from mediator.event import LocalEventBus
from mediator.request import LocalRequestBus

NAME = "python-mediator 0.7.0"


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
    ten_handlers = Case(repeat(ten.publish, tick), counts(ten.publish, tick, baseline.TICKS, 10))
    return {
        "request": Case(repeat(requests.execute, ping), returns(requests.execute, ping, 2)),
        "request_kwarg": Case(
            repeat_as_user(with_user.execute, ping),
            returns(with_user.execute, ping, "ada", user="ada"),
        ),
        "request_modifier": Case(
            repeat(modified.execute, ping), returns(modified.execute, ping, 2)
        ),
        "event_1": Case(repeat(one.publish, tick), counts(one.publish, tick, baseline.TICKS, 1)),
        "event_10": ten_handlers,
        "event_10_concurrent": ten_handlers,
        "stream_1000": "no stream requests",
    }
