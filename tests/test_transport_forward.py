"""Which events leave the process (SqliteOutbox.forward), and the headers they inherit."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from mediator import EventHandlerRegistry, LocalEventBus
from mediator.errors import MissingArgumentError, PublishError
from mediator.transports import (
    Delivery,
    EventTypeError,
    EventTypes,
    JsonCodec,
    OutboxError,
    SqliteOutbox,
    correlation,
    current_delivery,
    new_id,
)
from mediator.transports._context import handling

types = EventTypes()


@types.register(name="orders.placed")
@dataclass(frozen=True)
class Placed:
    order_id: int


@types.register(name="orders.shipped", version=2)
@dataclass(frozen=True)
class Shipped:
    order_id: int


@dataclass(frozen=True)
class Viewed:
    """A local-only event: never registered, never in the outbox."""

    order_id: int


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(tmp_path / "app.db")
    connection.execute("CREATE TABLE orders (id INTEGER)")
    connection.commit()
    yield connection
    connection.close()


@pytest.fixture
def outbox(db: sqlite3.Connection, tmp_path: Path) -> SqliteOutbox:
    outbox = SqliteOutbox(JsonCodec(types), database=tmp_path / "app.db")
    outbox.create(db)
    return outbox


def rows(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return db.execute("SELECT stream, type, version, key, payload FROM mediator_outbox").fetchall()


async def test_one_publish_reaches_local_handlers_and_writes_integration_events(
    db: sqlite3.Connection, outbox: SqliteOutbox
) -> None:
    bus = LocalEventBus()
    handler = outbox.forward(bus, stream="orders", connection="db", key=lambda e: str(e.order_id))
    seen: list[object] = []

    @bus.register
    async def local(event: Placed | Shipped | Viewed) -> None:
        seen.append(event)

    with db:
        db.execute("INSERT INTO orders VALUES (1)")
        await bus.publish(Placed(1), db=db)
        await bus.publish(Viewed(1), db=db)
        await bus.publish(Shipped(1), db=db)
    assert seen == [Placed(1), Viewed(1), Shipped(1)]
    assert rows(db) == [
        ("orders", "orders.placed", 1, "1", b'{"order_id":1}'),
        ("orders", "orders.shipped", 2, "1", b'{"order_id":1}'),
    ]
    route = [r for r in bus.routes() if r.handler.fn is handler]
    assert [r.message_type for r in route] == [Placed, Shipped]
    assert route[0].handler.name.endswith("SqliteOutbox.forward[orders]")


async def test_a_rollback_drops_the_rows_with_the_business_rows(
    db: sqlite3.Connection, outbox: SqliteOutbox
) -> None:
    bus = LocalEventBus()
    outbox.forward(bus, stream="orders", connection="db")

    @bus.register
    async def refuse(event: Shipped) -> None:
        raise ValueError("no stock")

    with pytest.raises(PublishError), db:
        db.execute("INSERT INTO orders VALUES (2)")
        await bus.publish(Placed(2), db=db)
        await bus.publish(Shipped(2), db=db)  # fails: the transaction rolls back
    assert db.execute("SELECT * FROM orders").fetchall() == []
    assert rows(db) == []


async def test_the_connection_can_come_from_a_provider_and_freeze_counts_it(
    db: sqlite3.Connection, outbox: SqliteOutbox
) -> None:
    registry = EventHandlerRegistry()
    outbox.forward(registry, stream="orders", types=[Placed])
    bus = LocalEventBus()
    bus.include(registry)
    bus.expect("uow")
    bus.provide("connection", lambda uow: uow)
    bus.freeze()
    with db:
        await bus.publish(Placed(3), uow=db)
        await bus.publish(Shipped(3), uow=db)  # not among types=: stays local
    assert [row[1] for row in rows(db)] == ["orders.placed"]


async def test_without_the_connection_the_publish_fails_before_writing(
    db: sqlite3.Connection, outbox: SqliteOutbox
) -> None:
    bus = LocalEventBus()
    outbox.forward(bus, stream="orders", connection="db")
    with pytest.raises(PublishError) as caught:
        await bus.publish(Placed(4))
    (failure,) = caught.value.failures
    assert isinstance(failure.exception, MissingArgumentError)
    assert failure.exception.parameters == ("db",)

    with pytest.raises(PublishError) as caught:
        await bus.publish(Placed(4), db="not a connection")
    error = caught.value.failures[0].exception
    assert isinstance(error, OutboxError)
    assert (error.problem, error.option, error.value) == ("connection", "db", "not a connection")
    assert str(error) == (
        "SqliteOutbox.forward() handler: db='not a connection' is not a sqlite3.Connection.\n"
        "Tip: Publish the event with the application's open connection: "
        "await bus.publish(event, db=connection), or provide it."
    )
    assert rows(db) == []


@pytest.mark.parametrize(
    ("options", "problem", "option"),
    [
        ({"stream": ""}, "stream", "stream"),
        ({"stream": "orders", "connection": "not a name"}, "parameter", "connection"),
        ({"stream": "orders", "connection": "class"}, "parameter", "connection"),
        ({"stream": "orders", "connection": "__event"}, "parameter", "connection"),
        ({"stream": "orders", "types": []}, "types", "types"),
        ({"stream": "orders", "types": ["Placed"]}, "types", "types"),
    ],
)
def test_forward_refuses_bad_options_and_leaves_the_bus_unchanged(
    outbox: SqliteOutbox, options: dict[str, Any], problem: str, option: str
) -> None:
    bus = LocalEventBus()
    with pytest.raises(OutboxError) as caught:
        outbox.forward(bus, **options)
    assert (caught.value.problem, caught.value.option) == (problem, option)
    assert "Tip:" in str(caught.value)
    assert bus.routes() == []


def test_forward_refuses_a_background_bus(outbox: SqliteOutbox) -> None:
    bus = LocalEventBus(strategy="background")
    with pytest.raises(OutboxError) as caught:
        outbox.forward(bus, stream="orders")
    assert caught.value.problem == "forward-background"
    assert "after the publishing code moved on" in str(caught.value)


def test_forward_refuses_unregistered_types_at_set_up(outbox: SqliteOutbox) -> None:
    bus = LocalEventBus()
    with pytest.raises(EventTypeError) as caught:
        outbox.forward(bus, stream="orders", types=[Placed, Viewed])
    assert caught.value.problem == "missing"
    assert caught.value.missing == (Viewed,)
    assert bus.routes() == []


def test_forward_needs_types_when_the_codec_has_no_registry(tmp_path: Path) -> None:
    class BareCodec:
        content_type = "application/json"

        def encode(self, event: object) -> Any:
            raise NotImplementedError

        def decode(self, type: str, version: int, payload: bytes) -> object:
            raise NotImplementedError

    outbox = SqliteOutbox(BareCodec(), database=tmp_path / "x.db")
    with pytest.raises(OutboxError) as caught:
        outbox.forward(LocalEventBus(), stream="orders")
    assert (caught.value.problem, caught.value.value) == ("types", None)


# -- headers --------------------------------------------------------------------------------


def headers_of(db: sqlite3.Connection) -> list[dict[str, str]]:
    return [json.loads(h) for (h,) in db.execute("SELECT headers FROM mediator_outbox")]


def ids_of(db: sqlite3.Connection) -> list[str]:
    return [i for (i,) in db.execute("SELECT id FROM mediator_outbox")]


def a_delivery(**changes: Any) -> Delivery:
    fields: dict[str, Any] = {
        "event_id": new_id(),
        "entry_id": "1-0",
        "attempt": 1,
        "stream": "payments",
        "group": "orders",
        "consumer": "orders-1",
        "type": "payments.settled",
        "version": 1,
        "occurred_at": datetime.now(UTC),
        "headers": {},
    }
    fields.update(changes)
    return Delivery(**fields)


def test_an_event_outside_any_delivery_starts_a_flow(
    db: sqlite3.Connection, outbox: SqliteOutbox
) -> None:
    with db:
        outbox.put(db, Placed(1), Placed(2), stream="orders")
    first, second = ids_of(db)
    assert headers_of(db) == [{"correlation_id": first}, {"correlation_id": second}]


def test_an_event_written_while_handling_another_is_caused_by_it(
    db: sqlite3.Connection, outbox: SqliteOutbox
) -> None:
    started = a_delivery(headers={})
    continued = a_delivery(headers={"correlation_id": "flow-7"})
    assert current_delivery() is None
    with db:
        with handling(started):
            assert current_delivery() is started
            outbox.put(db, Placed(1), stream="orders")
        with handling(continued):
            outbox.put(db, Placed(2), stream="orders", headers={"tenant": "acme"})
    assert current_delivery() is None
    assert headers_of(db) == [
        {"correlation_id": started.event_id, "causation_id": started.event_id},
        {"correlation_id": "flow-7", "causation_id": continued.event_id, "tenant": "acme"},
    ]


def test_correlation_names_the_flow_and_given_headers_win(
    db: sqlite3.Connection, outbox: SqliteOutbox
) -> None:
    with db:
        with correlation("request-42"):
            outbox.put(db, Placed(1), stream="orders")
            outbox.put(db, Placed(2), stream="orders", headers={"correlation_id": "mine"})
        outbox.put(db, Placed(3), stream="orders")
    third = ids_of(db)[2]
    assert headers_of(db) == [
        {"correlation_id": "request-42"},
        {"correlation_id": "mine"},
        {"correlation_id": third},
    ]
    with pytest.raises(TypeError, match="non-empty str"), correlation(""):
        pass


def test_traceparent_inside_an_opentelemetry_span(
    db: sqlite3.Connection, outbox: SqliteOutbox
) -> None:
    tracer = TracerProvider().get_tracer("test")
    with db, tracer.start_as_current_span("place order") as span:
        outbox.put(db, Placed(1), stream="orders")
    context = span.get_span_context()
    with db:
        outbox.put(db, Placed(2), stream="orders")  # outside any span: no traceparent
    inside, outside = headers_of(db)
    assert inside["traceparent"] == (
        f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
    )
    assert "traceparent" not in outside


def test_the_outbox_checks_the_codec_at_set_up(tmp_path: Path) -> None:
    from mediator.transports import FieldTypeError

    bad = EventTypes()

    @bad.register(name="orders.weird")
    @dataclass
    class Weird:
        handle: sqlite3.Connection

    with pytest.raises(FieldTypeError) as caught:
        SqliteOutbox(JsonCodec(bad), database=tmp_path / "x.db")
    assert caught.value.field == "handle"
