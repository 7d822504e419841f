"""A shop's handlers: string annotations naming the module's own classes."""

from __future__ import annotations

received: list[object] = []


class OrderPlaced:
    pass


async def on_order_placed(event: OrderPlaced) -> None:
    received.append(event)


async def on_order_typo(event: OrderPlacd) -> None:  # type: ignore[name-defined]  # noqa: F821
    received.append(event)
