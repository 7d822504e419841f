"""A short scenario against the orders service, printing what happens.

Run it from the repository root: python -m example.orders
(stdout tells the story; the log middleware's record of each call goes to stderr).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import anyio

from .messages import (
    CancelOrder,
    ListNotifications,
    ListOrders,
    OrderNotFound,
    PlaceOrder,
    User,
    ValidationError,
)
from .service import create_service


async def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        service = create_service(Path(directory) / "orders.db")
        execute = service.requests.execute
        ada, grace, warehouse = User("ada"), User("grace"), User("warehouse")

        order = await execute(PlaceOrder("widget", 2), user=ada)
        print(f"ada placed order #{order.id}: {order.quantity} {order.product}")
        other = await execute(PlaceOrder("gizmo", 4), user=grace)
        print(f"grace placed order #{other.id}: {other.quantity} {other.product}")

        try:
            await execute(PlaceOrder("widget", 0), user=ada)
        except ValidationError as error:
            print(f"ada cannot order 0 widget: {error}")
        try:
            await execute(CancelOrder(order.id), user=grace)  # not hers
        except OrderNotFound as error:
            print(f"grace cannot cancel order #{order.id}: {error}")
        cancelled = await execute(CancelOrder(order.id), user=ada)
        print(f"ada cancelled order #{cancelled.id}")

        for user in (ada, grace):
            for each in await execute(ListOrders(), user=user):
                print(f"{user.name}'s order #{each.id}: {each.product}, {each.status}")
        # Written by the event handlers, each in its own transaction, after each command.
        for user in (ada, grace, warehouse):
            for text in await execute(ListNotifications(), user=user):
                print(f"to {user.name}: {text}")


class OneLine(logging.Formatter):
    """Log records without tracebacks: the scenario's failures are expected ones."""

    def formatException(self, ei: Any) -> str:
        return ""


if __name__ == "__main__":
    to_stderr = logging.StreamHandler()
    to_stderr.setFormatter(OneLine("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[to_stderr])
    anyio.run(main)
