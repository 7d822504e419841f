"""A handler whose message class is only imported for type checkers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediator import LocalRequestBus

if TYPE_CHECKING:
    from decimal import Decimal as Invoice

requests = LocalRequestBus()


@requests.register
async def pay(invoice: Invoice) -> str:
    return "paid"


class Known:
    pass


@requests.register
async def known(query: Known, session: Session) -> str:  # noqa: F821 - only the message parameter matters
    return "known"
