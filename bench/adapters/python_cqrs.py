"""python-cqrs 5.3.0, as its README shows (https://mkdocs.python-cqrs.dev/).

Class handlers bound in mappers, mediators built by ``cqrs.bootstrap`` on a
``di`` container (bootstrap always adds its logging middleware); events go
through the ``EventMediator`` it documents for in-process event handling.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import cqrs
import di
from cqrs.bootstrap import events as bootstrap_events
from cqrs.bootstrap import requests as bootstrap_requests

from bench.adapters.case import Case
from bench.baseline import TICKS

NAME = "python-cqrs 5.3.0"
REQUIREMENT = "python-cqrs==5.3.0"
PIP_FLAGS: tuple[str, ...] = ()


class Ping(cqrs.Request):
    value: int


class Pong(cqrs.Response):
    value: int


class Tick(cqrs.Event):
    value: int


class Count(cqrs.Request):
    items: int


class Item(cqrs.Response):
    value: int


class PingHandler(cqrs.RequestHandler[Ping, Pong]):
    @property
    def events(self) -> list[cqrs.Event]:
        return []

    async def handle(self, request: Ping) -> Pong:
        return Pong(value=request.value + 1)


class CountHandler(cqrs.StreamingRequestHandler[Count, Item]):
    @property
    def events(self) -> list[cqrs.Event]:
        return []

    def clear_events(self) -> None:
        pass

    async def handle(self, request: Count) -> AsyncIterator[Item]:  # type: ignore[override]
        for index in range(request.items):
            yield Item(value=index)


def tick_handler() -> type:
    class TickHandler(cqrs.EventHandler[Tick]):
        async def handle(self, event: Tick) -> None:
            TICKS[0] += 1

    return TickHandler


class PassThrough:
    async def __call__(self, request: Any, handle: Any) -> Any:
        return await handle(request)


def cases() -> dict[str, Case | str]:
    def queries(mapper: cqrs.RequestMap) -> None:
        mapper.bind(Ping, PingHandler)

    def streams(mapper: cqrs.RequestMap) -> None:
        mapper.bind(Count, CountHandler)

    requests = bootstrap_requests.bootstrap(di_container=di.Container(), queries_mapper=queries)
    modified = bootstrap_requests.bootstrap(
        di_container=di.Container(), queries_mapper=queries, middlewares=[PassThrough()]
    )
    streaming = bootstrap_requests.bootstrap_streaming(
        di_container=di.Container(), queries_mapper=streams
    )

    def events(handlers: int) -> Any:
        def mapper(event_map: cqrs.EventMap) -> None:
            for _ in range(handlers):
                event_map.bind(Tick, tick_handler())

        return bootstrap_events.bootstrap(di_container=di.Container(), events_mapper=mapper)

    one, ten = events(1), events(10)
    ping, tick, stream = Ping(value=1), Tick(value=1), Count(items=1000)

    async def request(n: int) -> None:
        for _ in range(n):
            await requests.send(ping)

    async def request_modifier(n: int) -> None:
        for _ in range(n):
            await modified.send(ping)

    async def event_1(n: int) -> None:
        for _ in range(n):
            await one.send(tick)

    async def event_10(n: int) -> None:
        for _ in range(n):
            await ten.send(tick)

    async def stream_1000(n: int) -> None:
        for _ in range(n):
            async for _ in streaming.stream(stream):
                pass

    async def check_request() -> None:
        assert (await requests.send(ping)).value == 2

    async def check_modifier() -> None:
        assert (await modified.send(ping)).value == 2

    def check_events(mediator: Any, handlers: int) -> Any:
        async def check() -> None:
            before = TICKS[0]
            await mediator.send(tick)
            assert TICKS[0] - before == handlers

        return check

    async def check_stream() -> None:
        assert [i.value async for i in streaming.stream(stream)] == list(range(1000))

    return {
        "request": Case(request, check_request),
        "request_kwarg": "no call-time injection: send() takes only the request",
        "request_modifier": Case(request_modifier, check_modifier),
        "event_1": Case(event_1, check_events(one, 1)),
        "event_10": Case(event_10, check_events(ten, 10)),
        "stream_1000": Case(stream_1000, check_stream),
    }
