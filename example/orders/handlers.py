"""The handlers, collected in registries: `create_service` decides which buses run them.

Each handler declares what it needs by parameter name: ``user`` is passed by the
caller, ``db`` (a transaction) and ``events`` (published after it commits) are
made per call by the service's providers.  They are plain ``def`` functions
because sqlite3 is synchronous (see `example.orders.database`); with an async
driver they would be ``async def`` and nothing else would change.
"""

from __future__ import annotations

import sqlite3

from mediator import EventAggregate, EventHandlerRegistry, RequestHandlerRegistry

from .messages import (
    CancelOrder,
    GetOrder,
    ListNotifications,
    ListOrders,
    Order,
    OrderCancelled,
    OrderNotFound,
    OrderPlaced,
    PlaceOrder,
    User,
    ValidationError,
)

__all__ = ("LOW_STOCK", "reactions", "requests")

#: Below this many items left, the warehouse is told to restock.
LOW_STOCK = 3

requests = RequestHandlerRegistry()
reactions = EventHandlerRegistry()


# -- commands ---------------------------------------------------------------------------
@requests.register
def place_order(
    command: PlaceOrder, user: User, db: sqlite3.Connection, events: EventAggregate
) -> Order:
    if command.quantity <= 0:
        raise ValidationError("quantity", "must be at least 1")
    row = db.execute("SELECT available FROM stock WHERE product = ?", (command.product,)).fetchone()
    if row is None:
        raise ValidationError("product", f"we do not sell {command.product!r}")
    if row["available"] < command.quantity:
        raise ValidationError("quantity", f"only {row['available']} {command.product} left")
    db.execute(
        "UPDATE stock SET available = available - ? WHERE product = ?",
        (command.quantity, command.product),
    )
    cursor = db.execute(
        "INSERT INTO orders (customer, product, quantity, status) VALUES (?, ?, ?, 'placed')",
        (user.name, command.product, command.quantity),
    )
    assert cursor.lastrowid is not None
    order = Order(cursor.lastrowid, user.name, command.product, command.quantity, "placed")
    events.enqueue(OrderPlaced(order))  # published only once this transaction has committed
    return order


@requests.register
def cancel_order(
    command: CancelOrder, user: User, db: sqlite3.Connection, events: EventAggregate
) -> Order:
    order = _find(db, command.order_id, user)
    if order.status == "cancelled":
        raise ValidationError("order_id", f"order #{order.id} is already cancelled")
    db.execute("UPDATE orders SET status = 'cancelled' WHERE id = ?", (order.id,))
    db.execute(
        "UPDATE stock SET available = available + ? WHERE product = ?",
        (order.quantity, order.product),
    )
    cancelled = Order(order.id, order.customer, order.product, order.quantity, "cancelled")
    events.enqueue(OrderCancelled(cancelled))
    return cancelled


# -- queries ----------------------------------------------------------------------------
@requests.register
def get_order(query: GetOrder, user: User, db: sqlite3.Connection) -> Order:
    return _find(db, query.order_id, user)


@requests.register
def list_orders(query: ListOrders, user: User, db: sqlite3.Connection) -> list[Order]:
    rows = db.execute("SELECT * FROM orders WHERE customer = ? ORDER BY id", (user.name,))
    return [_order(row) for row in rows]


@requests.register
def list_notifications(query: ListNotifications, user: User, db: sqlite3.Connection) -> list[str]:
    rows = db.execute(
        "SELECT text FROM notifications WHERE recipient = ? ORDER BY id", (user.name,)
    )
    return [row["text"] for row in rows]


# -- events: each handler runs in a transaction of its own -------------------------------
@reactions.register
def confirm_order(event: OrderPlaced, db: sqlite3.Connection) -> None:
    order = event.order
    _notify(db, order.customer, f"order #{order.id} confirmed: {order.quantity} {order.product}")


@reactions.register
def confirm_cancellation(event: OrderCancelled, db: sqlite3.Connection) -> None:
    _notify(db, event.order.customer, f"order #{event.order.id} cancelled")


@reactions.register
def watch_stock(event: OrderPlaced, db: sqlite3.Connection) -> None:
    product = event.order.product
    (left,) = db.execute("SELECT available FROM stock WHERE product = ?", (product,)).fetchone()
    if left < LOW_STOCK:
        _notify(db, "warehouse", f"restock {product}: {left} left")


# -- helpers ----------------------------------------------------------------------------
def _find(db: sqlite3.Connection, order_id: int, user: User) -> Order:
    row = db.execute(
        "SELECT * FROM orders WHERE id = ? AND customer = ?", (order_id, user.name)
    ).fetchone()
    if row is None:
        raise OrderNotFound(order_id)
    return _order(row)


def _order(row: sqlite3.Row) -> Order:
    return Order(row["id"], row["customer"], row["product"], row["quantity"], row["status"])


def _notify(db: sqlite3.Connection, recipient: str, text: str) -> None:
    db.execute("INSERT INTO notifications (recipient, text) VALUES (?, ?)", (recipient, text))
