"""Static typing of `mediator.transports`, checked with mypy --strict and pyright (strict).

Not run: type checkers read it (tests/test_typing.py runs them).  Lines
marked ``# type: ignore[...]`` must be rejected.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import assert_type

from mediator import AroundMiddleware, LocalEventBus
from mediator.transports import (
    Codec,
    DeadLetter,
    Delivery,
    Encoded,
    Engine,
    Envelope,
    EventTypes,
    InboxStore,
    JsonCodec,
    MemoryEngine,
    OutboxRow,
    OutboxStore,
    Relay,
    SqliteInbox,
    SqliteOutbox,
    Worker,
    WorkerStats,
    correlation,
    current_delivery,
    idempotent,
    new_id,
)
from mediator.transports.redis import RedisEngine, RedisEngineError

types = EventTypes()


@types.register(name="orders.placed", version=1)
@dataclass(frozen=True)
class OrderPlaced:
    order_id: int


class Shipped:
    pass


assert_type(types.register(Shipped, name="orders.shipped"), type[Shipped])
assert_type(types.name_of(OrderPlaced), tuple[str, int])
assert_type(types.class_of("orders.placed"), type)

codec = JsonCodec(types)
engine = MemoryEngine()
outbox = SqliteOutbox(codec, database="app.db")
inbox = SqliteInbox(database="app.db")
grouped = SqliteInbox(database="app.db", group_commit=True)
bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])

redis_engine = RedisEngine("redis://localhost:6379/0", partitions={"orders": 4})
as_redis: Engine = redis_engine
assert_type(redis_engine.streams("orders", [0, 1]), list[str])
problem: str = RedisEngineError("option", option="timeout", value=0).problem

@dataclass(frozen=True)
class FrozenCodec:
    """A codec whose content type is a frozen field, or a property: both are codecs."""

    content_type: str = "application/x-msgpack"

    def encode(self, event: object) -> Encoded:
        return Encoded("x", 1, b"")

    def decode(self, type: str, version: int, payload: bytes) -> object:
        return object()


class PropertyCodec:
    @property
    def content_type(self) -> str:
        return "application/cbor"

    def encode(self, event: object) -> Encoded:
        return Encoded("x", 1, b"")

    def decode(self, type: str, version: int, payload: bytes) -> object:
        return object()


frozen_codec: Codec = FrozenCodec()
property_codec: Codec = PropertyCodec()

# The library's own classes satisfy its protocols.
as_codec: Codec = codec
as_engine: Engine = engine
as_store: OutboxStore = outbox
as_inbox: InboxStore = inbox

assert_type(codec.encode(OrderPlaced(1)), Encoded)
assert_type(codec.decode("orders.placed", 1, b"{}"), object)
assert_type(idempotent(inbox), AroundMiddleware)
assert_type(new_id(), str)
handler = outbox.forward(bus, stream="orders", connection="db", key=lambda e: "k")
assert_type(handler, Callable[..., Awaitable[None]])
assert_type(outbox.put(sqlite3.connect(":memory:"), OrderPlaced(1), stream="orders"), list[Envelope])

worker = Worker(engine, codec, bus, streams=["orders", "payments"], group="billing")
assert_type(worker.stats(), WorkerStats)
assert_type(worker.stats().lag, int | None)
assert_type(worker.streams, tuple[str, ...])
assert_type(current_delivery(), Delivery | None)
relay = Relay(outbox, engine, batch=50)


async def inspect() -> None:
    assert_type(await outbox.rows(), list[OutboxRow])
    assert_type(await engine.dead_letters("orders"), list[DeadLetter])
    assert_type(await engine.lag("orders", "billing"), int | None)
    assert_type(await relay.run_once(), int)
    with correlation("request-1"):
        pass


@bus.register
async def charge(event: OrderPlaced, db: sqlite3.Connection, delivery: Delivery) -> None:
    assert_type(delivery.attempt, int)
    assert_type(delivery.headers.get("correlation_id"), str | None)


def rejected() -> None:
    RedisEngine(partitions=["orders"])  # type: ignore[arg-type]
    SqliteInbox(database="app.db", group_commit="yes")  # type: ignore[arg-type]
    redis_engine.streams("orders", "0")  # type: ignore[arg-type]
    Worker(engine, codec, bus, streams="orders")  # type: ignore[call-arg]
    Worker(engine, codec, bus, streams="orders", group=1)  # type: ignore[arg-type]
    Relay(engine, engine)  # type: ignore[arg-type]
    idempotent(inbox, connection=1)  # type: ignore[arg-type]
    SqliteOutbox(codec, database="app.db", table=3)  # type: ignore[arg-type]
    outbox.put(sqlite3.connect(":memory:"), OrderPlaced(1))  # type: ignore[call-arg]
    types.register(OrderPlaced, name="x", version="1")  # type: ignore[call-overload]
    worker.stats().delivered = "many"  # type: ignore[assignment]
