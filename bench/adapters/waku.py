"""waku 0.43.0 messaging, as its documentation shows (https://docs.wakupy.dev/features/messaging/).

Handlers are classes bound with ``MessagingExtension().bind(...)`` in a module,
the bus is ``IMessageBus`` taken from the application's dishka container, and
the pass-through middleware is a pipeline behavior in ``MessagingConfig``.
Events are not measured: in 0.43 ``publish`` queues them for a background
worker and returns before any handler ran.
Every call runs in one container scope (a web request would open one each).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from waku import WakuFactory, module
from waku.messaging import (
    CallNext,
    IMessageBus,
    IPipelineBehavior,
    IRequest,
    MessagingConfig,
    MessagingExtension,
    MessagingModule,
    RequestHandler,
)

from bench.adapters.case import Case, repeat, returns

NAME = "waku 0.43.0"

#: Checked on 0.43.0: publish() hands an event to a local queue endpoint whose
#: worker task runs the handlers later; nothing documented awaits them.
NO_AWAITED_PUBLISH = "publish() queues events for a background worker; no awaited publish"


@dataclass(frozen=True, kw_only=True)
class Ping(IRequest[int]):
    value: int


class PingHandler(RequestHandler[Ping, int]):
    async def handle(self, request: Ping, /) -> int:
        return request.value + 1


class PassThrough(IPipelineBehavior[Any, Any]):
    async def handle(self, message: Any, /, call_next: CallNext[Any]) -> Any:
        return await call_next()


class _Bus:
    """An application and an open container scope, made on first use (it needs a loop)."""

    def __init__(self, extension: MessagingExtension, config: MessagingConfig) -> None:
        @module(extensions=[extension])
        class Feature:
            pass

        @module(imports=[Feature, MessagingModule.register(config)])
        class App:
            pass

        self.app = WakuFactory(App).create()
        self.bus: IMessageBus | None = None

    async def get(self) -> IMessageBus:
        if self.bus is None:
            await self.app.__aenter__()
            self.scope = self.app.container()
            container = await self.scope.__aenter__()
            self.bus = await container.get(IMessageBus)
        return self.bus


def cases() -> dict[str, Case | str]:
    requests = _Bus(MessagingExtension().bind(Ping, PingHandler), MessagingConfig())
    modified = _Bus(
        MessagingExtension().bind(Ping, PingHandler),
        MessagingConfig(pipeline_behaviors=[PassThrough]),
    )
    ping = Ping(value=1)

    def invoke(holder: _Bus) -> Any:
        async def run(message: Ping) -> Any:
            return await (await holder.get()).invoke(message)

        return run

    async def request(n: int) -> None:
        await repeat((await requests.get()).invoke, ping)(n)

    async def request_modifier(n: int) -> None:
        await repeat((await modified.get()).invoke, ping)(n)

    return {
        "request": Case(request, returns(invoke(requests), ping, 2)),
        "request_kwarg": "no call-time injection: invoke() takes only the request",
        "request_modifier": Case(request_modifier, returns(invoke(modified), ping, 2)),
        "event_1": NO_AWAITED_PUBLISH,
        "event_10": NO_AWAITED_PUBLISH,
        "event_10_concurrent": NO_AWAITED_PUBLISH,
        "stream_1000": "no stream requests",
    }
