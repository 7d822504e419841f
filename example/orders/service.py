"""Putting it together: the buses, their middleware and providers, checked at start-up."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mediator import EventAggregate, LocalEventBus, LocalRequestBus, Modifier
from mediator.modifiers import log, retry

from . import handlers
from .database import CATALOGUE, Database

if TYPE_CHECKING:  # only example/distributed uses the outbox: it needs no import here
    from mediator.transports import SqliteOutbox

__all__ = ("OrdersService", "create_service")


@dataclass(frozen=True)
class OrdersService:
    #: Commands and queries: ``await service.requests.execute(PlaceOrder(...), user=user)``.
    requests: LocalRequestBus
    #: The domain events, published by the commands once their transaction has committed
    #: (or, with an outbox, written to it in that transaction, for other processes).
    events: LocalEventBus
    database: Database


def create_service(
    path: str | Path,
    *,
    stock: Mapping[str, int] = CATALOGUE,
    busy_timeout: float = 0.0,
    attempts: int = 3,
    backoff: Callable[[int], float] | None = None,
    outbox: SqliteOutbox | None = None,
) -> OrdersService:
    """The service on the SQLite file at ``path`` (created and stocked if new).

    ``attempts`` and ``backoff`` are `retry`'s: how often a call that found the
    database locked runs again, and how long it waits before each new attempt.
    With an ``outbox`` (on the same file), a command's events are written to it
    in the command's own transaction, stream ``"orders"``, instead of being
    published in this process: a relay sends them on (example/distributed).
    """
    database = Database(path, busy_timeout=busy_timeout)
    database.create(stock)

    # Every call is logged once, on the "mediator.calls" logger (silent until the
    # application configures logging), at WARNING when slower than half a second.
    # Inside it, a call that found the database locked runs again, its providers
    # too: each attempt gets a fresh transaction, the failed one was rolled back.
    # Nothing else is retried: a command that failed is not run twice.
    modifiers: list[Modifier] = [
        log(level=logging.INFO, slow=0.5),
        retry(attempts, on=(sqlite3.OperationalError,), backoff=backoff),
    ]

    events = LocalEventBus(modifiers=modifiers)
    events.include(handlers.reactions)
    events.provide("db", database.transaction)  # each event handler: its own transaction

    requests = LocalRequestBus(modifiers=modifiers)
    requests.include(handlers.requests)
    requests.provide("db", database.transaction)

    async def publish_after_commit(db: sqlite3.Connection) -> AsyncIterator[EventAggregate]:
        """The events of one command, published once its transaction has committed.

        If the handler raises, its exception comes out of the ``yield``: the
        events are dropped with the rolled-back transaction.  Committing here,
        before the ``db`` provider's own teardown (which then has nothing left
        to commit), lets the event handlers see the command's rows.  If an
        event handler fails, the command stays done and its caller gets the
        `PublishError`; where every event must get through, write them to an
        outbox table in the transaction instead (``outbox=``).
        """
        aggregate = EventAggregate().use(events)
        yield aggregate
        db.commit()
        await aggregate.commit()

    async def write_to_outbox(db: sqlite3.Connection) -> AsyncIterator[EventAggregate]:
        """The events of one command, as outbox rows in its own transaction.

        They commit with the command's rows or roll back with them: no event of
        a saved order is lost, none of a failed one is sent.
        """
        assert outbox is not None
        aggregate = EventAggregate().use(outbox.publisher(db, stream="orders"))
        yield aggregate
        await aggregate.commit()  # the rows, before the db provider commits them

    if outbox is None:
        requests.provide("events", publish_after_commit)
    else:
        connection = database.connect()
        outbox.create(connection)
        connection.close()
        requests.provide("events", write_to_outbox)

    # Every call passes the current user; freeze() checks now that everything else
    # a handler needs is provided, and refuses any later registration.
    requests.expect("user")
    requests.freeze()
    events.freeze()
    return OrdersService(requests, events, database)
