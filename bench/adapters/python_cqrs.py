"""python-cqrs 5.3.0, as its README shows (https://mkdocs.python-cqrs.dev/).

Class handlers bound in mappers, mediators built by ``cqrs.bootstrap`` on a
``di`` container (bootstrap always adds its logging middleware); events go
through the ``EventMediator`` it documents for in-process event handling.

``EventMediator.send`` awaits an event's handlers one after another, with no
option.  Its concurrent handling is the machinery behind the README's
"Parallel Event Processing" (``concurrent_event_handle_enable``): an
``EventProcessor`` over an ``EventEmitter``, which gathers a domain event's
handlers; event_10_concurrent builds that pair as the ``EventProcessor``
docstring shows (no middleware on that path), and so ``Tick`` is a
``DomainEvent``, the kind the emitter runs handlers for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import cqrs
import di
from cqrs.bootstrap import events as bootstrap_events
from cqrs.bootstrap import requests as bootstrap_requests
from cqrs.container.di import DIContainer
from cqrs.events.event_processor import EventProcessor

from bench.adapters.case import Case, collects, counts, drain, repeat, returns
from bench.baseline import TICKS

NAME = "python-cqrs 5.3.0"


class Ping(cqrs.Request):
    value: int


class Pong(cqrs.Response):
    value: int


class Tick(cqrs.DomainEvent):
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

    def tick_handlers(handlers: int) -> Any:
        def mapper(event_map: cqrs.EventMap) -> None:
            for _ in range(handlers):
                event_map.bind(Tick, tick_handler())

        return mapper

    def events(handlers: int) -> Any:
        return bootstrap_events.bootstrap(
            di_container=di.Container(), events_mapper=tick_handlers(handlers)
        )

    def concurrent_events(handlers: int) -> Any:
        event_map = cqrs.EventMap()
        tick_handlers(handlers)(event_map)
        container = DIContainer()
        container.attach_external_container(di.Container())
        processor = EventProcessor(
            event_map=event_map,
            event_emitter=cqrs.EventEmitter(event_map=event_map, container=container),
            max_concurrent_event_handlers=handlers,
            concurrent_event_handle_enable=True,
        )

        async def publish(event: Tick) -> None:
            await processor.emit_events([event])

        return publish

    one, ten, concurrent = events(1), events(10), concurrent_events(10)
    ping, tick, stream = Ping(value=1), Tick(value=1), Count(items=1000)
    return {
        "request": Case(repeat(requests.send, ping), returns(requests.send, ping, Pong(value=2))),
        "request_kwarg": "no call-time injection: send() takes only the request",
        "request_modifier": Case(
            repeat(modified.send, ping), returns(modified.send, ping, Pong(value=2))
        ),
        "event_1": Case(repeat(one.send, tick), counts(one.send, tick, TICKS, 1)),
        "event_10": Case(repeat(ten.send, tick), counts(ten.send, tick, TICKS, 10)),
        "event_10_concurrent": Case(repeat(concurrent, tick), counts(concurrent, tick, TICKS, 10)),
        "stream_1000": Case(
            drain(streaming.stream, stream),
            collects(streaming.stream, stream, [Item(value=i) for i in range(1000)]),
        ),
    }
