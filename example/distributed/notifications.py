"""The notifications service: a worker reading the orders service's events from Redis.

    python -m mediator worker example.distributed.notifications:worker

Its handlers write to its own database (notifications.db, or
``NOTIFICATIONS_DB``) in the inbox's transaction, so a redelivered event never
notifies twice.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3

from mediator import LocalEventBus
from mediator.transports import Delivery, SqliteInbox, Worker, idempotent
from mediator.transports.redis import RedisEngine

from ..orders.messages import OrderCancelled, OrderPlaced
from .wire import REDIS_URL, STREAM, codec

DATABASE = os.environ.get("NOTIFICATIONS_DB", "notifications.db")


def worker() -> Worker:
    """What ``python -m mediator worker`` runs: called once, at start-up."""
    with contextlib.closing(sqlite3.connect(DATABASE)) as connection, connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS notifications (recipient TEXT, text TEXT, event_id TEXT)"
        )
        inbox = SqliteInbox(database=DATABASE)
        inbox.create(connection)

    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])

    @bus.register
    async def confirm_order(event: OrderPlaced, db: sqlite3.Connection, delivery: Delivery) -> None:
        order = event.order
        text = f"order #{order.id} confirmed: {order.quantity} {order.product}"
        db.execute(
            "INSERT INTO notifications VALUES (?, ?, ?)", (order.customer, text, delivery.event_id)
        )
        print(f"to {order.customer}: {text}", flush=True)

    @bus.register
    async def confirm_cancellation(
        event: OrderCancelled, db: sqlite3.Connection, delivery: Delivery
    ) -> None:
        text = f"order #{event.order.id} cancelled"
        db.execute(
            "INSERT INTO notifications VALUES (?, ?, ?)",
            (event.order.customer, text, delivery.event_id),
        )
        print(f"to {event.order.customer}: {text}", flush=True)

    engine = RedisEngine(REDIS_URL)
    return Worker(
        engine, codec, bus, streams=STREAM, group="notifications", consumer="notifications-1"
    )
