"""What the service says and hears: commands, queries, events, and the domain's errors.

Plain dataclasses, with no import of the bus's machinery beyond `Request[T]`, which
types the result of ``await bus.execute(...)``.  FastAPI reads `PlaceOrder` as the
body of ``POST /orders`` as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mediator import Request

__all__ = (
    "CancelOrder",
    "GetOrder",
    "ListNotifications",
    "ListOrders",
    "Order",
    "OrderCancelled",
    "OrderEvent",
    "OrderNotFound",
    "OrderPlaced",
    "OrdersError",
    "PlaceOrder",
    "User",
    "ValidationError",
)


@dataclass(frozen=True)
class User:
    """Who is calling: passed to every call as ``user=...``, never part of a message."""

    name: str


@dataclass(frozen=True)
class Order:
    id: int
    customer: str
    product: str
    quantity: int
    status: Literal["placed", "cancelled"]


# -- commands: change something, return what they changed ------------------------------
@dataclass(frozen=True)
class PlaceOrder(Request[Order]):
    product: str
    quantity: int


@dataclass(frozen=True)
class CancelOrder(Request[Order]):
    order_id: int


# -- queries: read, change nothing ----------------------------------------------------
@dataclass(frozen=True)
class GetOrder(Request[Order]):
    order_id: int


@dataclass(frozen=True)
class ListOrders(Request[list[Order]]):
    """The current user's orders, oldest first."""


@dataclass(frozen=True)
class ListNotifications(Request[list[str]]):
    """What the service told the current user, oldest first."""


# -- events: what happened, published once it has (committed) --------------------------
@dataclass(frozen=True)
class OrderEvent:
    """The base of the order events: a handler for it gets all of them."""

    order: Order


@dataclass(frozen=True)
class OrderPlaced(OrderEvent):
    pass


@dataclass(frozen=True)
class OrderCancelled(OrderEvent):
    pass


# -- errors: what a caller did wrong, as the web layer maps them -------------------------
class OrdersError(Exception):
    """The base of the domain's errors."""


class ValidationError(OrdersError, ValueError):
    """A command that cannot be carried out as given (HTTP 422)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class OrderNotFound(OrdersError, LookupError):
    """No such order for this user: someone else's order is not found either (HTTP 404)."""

    def __init__(self, order_id: int) -> None:
        super().__init__(f"no order #{order_id}")
        self.order_id = order_id
