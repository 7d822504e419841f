"""Static typing of `EventAggregate`, checked with mypy --strict and pyright (strict).

Not run: type checkers read it (tests/test_typing.py runs them).  The first
part is the README's EventAggregate example as written there; lines marked
``# type: ignore[...]`` must be rejected (both checkers report an ignore that
is no longer needed).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, assert_type

import anyio

from mediator import EventAggregate, LocalEventBus, PublishError
from mediator.event import EventPublish, EventPublisher

# -- the README example --------------------------------------------------------

bus = LocalEventBus()
published: list[str] = []
limits = {"savings": 100}


@dataclass
class Deposited:
    amount: int


@bus.register
async def on_deposit(event: Deposited, account: str) -> None:
    if event.amount > limits[account]:
        raise ValueError(f"{account}: {event.amount} is over the limit")
    published.append(f"{account}: +{event.amount}")


class Account(EventAggregate):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.balance = 0

    def deposit(self, amount: int) -> None:
        self.balance += amount
        self.enqueue(Deposited(amount), account=self.name)


async def main() -> None:
    account = Account("savings").use(bus)  # use() returns the Account
    account.deposit(10)
    account.deposit(500)
    account.deposit(5)
    assert published == []  # nothing is published before commit()
    try:
        await account.commit()
    except PublishError as error:
        (failure,) = error.failures
        assert str(failure.exception) == "savings: 500 is over the limit"
    # +10 went out; +500 was not delivered and stays staged, first, then +5.
    assert published == ["savings: +10"]
    assert [event.amount for event, _ in account.staged] == [500, 5]
    limits["savings"] = 1000
    await account.commit()  # the retry delivers exactly what did not go out
    assert published == ["savings: +10", "savings: +500", "savings: +5"]
    assert account.staged == ()


if __name__ == "__main__":
    anyio.run(main)


# -- the types -----------------------------------------------------------------


class Savings(Account):
    def freeze(self) -> None:
        pass


class Outbox(EventPublisher):
    """An all-or-nothing publisher, its transaction written as an async generator."""

    async def publish(self, event: Any, /, **kwargs: Any) -> None:
        pass

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncGenerator[EventPublish, None]:
        yield self


class PublishOnly:
    """An `EventPublish` without a transaction."""

    async def publish(self, event: Any, /, **kwargs: Any) -> None:
        pass


async def usage() -> None:
    # use() returns the aggregate's own type, so chaining keeps its methods.
    assert_type(Account("a").use(bus), Account)
    assert_type(Savings("s").use(bus), Savings)
    assert_type(Account("a").use(Outbox()), Account)
    Savings("s").use(bus).freeze()
    Account("a").use(bus).deposit(1)
    assert_type(EventAggregate().use(bus), EventAggregate)

    account = Account("a").use(bus)
    assert_type(account.staged, tuple[tuple[Any, dict[str, Any]], ...])
    assert_type(await account.commit(), None)
    assert_type(account.cleanup(), None)
    assert_type(account.enqueue(Deposited(1), account="a", note=None), None)

    # Lines that must stay rejected.
    Account("a").use(bus).deposit("ten")  # type: ignore[arg-type]
    Account("a").use(bus).freeze()  # type: ignore[attr-defined]
    Account("a").use(PublishOnly())  # type: ignore[arg-type]
    account.staged = ()  # type: ignore[misc]
