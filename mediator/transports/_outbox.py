"""The outbox: events written in the application's own transaction, for a relay to send.

The store protocol covers only the relay's side (claim, mark, release,
prune), which every store offers the same way, asynchronously.  The write
side belongs to each store, because it must join the application's own
transaction and so takes that transaction's handle: `SqliteOutbox.put`
takes a ``sqlite3.Connection`` and is synchronous, a SQLAlchemy store would
take an ``AsyncSession`` and be awaited.  A PostgreSQL store claims with
``SELECT ... FOR UPDATE SKIP LOCKED`` and an ``UPDATE`` setting the lease,
in one transaction, which is what `OutboxStore.claim` asks for.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from .._aggregate import EventPublish, EventPublisher
from ._envelope import Envelope
from ._errors import SetupError

__all__ = ["OutboxError", "OutboxProblem", "OutboxPublisher", "OutboxRow", "OutboxStore"]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One outbox row: an envelope bound for ``stream``, and its relay state."""

    #: The row's place in the outbox: rows are claimed and sent in this order.
    seq: int
    stream: str
    envelope: Envelope
    #: The relay holding the row, until ``claimed_until``; ``None`` when free.
    claimed_by: str | None
    claimed_until: datetime | None
    #: When a relay marked it published; ``None`` until then.
    published_at: datetime | None


@runtime_checkable
class OutboxStore(Protocol):
    """The relay's side of an outbox: what `Relay` needs, whatever the database.

    Several relays may share one store: a row is claimed by one relay at a
    time, for ``lease`` seconds, after which another relay may take it.
    """

    async def claim(self, relay_id: str, batch: int, lease: float) -> list[OutboxRow]:
        """Up to ``batch`` unpublished rows, oldest first, whose claim is absent or expired.

        They are claimed by ``relay_id`` until now + ``lease`` seconds, in one
        transaction, so that two relays never claim a row at the same time.
        """
        ...

    async def mark_published(self, relay_id: str, seqs: Sequence[int]) -> int:
        """Mark published those of the rows still claimed by ``relay_id``; returns how many.

        A row another relay claimed after this one's lease expired is left to
        that relay, which sends it again: a duplicate the consumers absorb, never
        a loss.  The claim is released with the mark.
        """
        ...

    async def release(self, relay_id: str, seqs: Sequence[int]) -> None:
        """Give back rows still claimed by ``relay_id`` and unpublished, for any relay to take."""
        ...

    async def prune(self, older_than: datetime) -> int:
        """Delete the rows published before ``older_than``; returns how many."""
        ...


OutboxProblem = Literal[
    "table",
    "no-database",
    "autocommit",
    "option",
    "publish-kwargs",
    "forward-background",
    "stream",
    "parameter",
    "types",
    "connection",
    "thread",
]


#: What is wrong with a `Relay` option, by name.
_OPTIONS = {
    "relay_id": "is not a non-empty str",
    "batch": "is not a whole number (an int) of at least 1",
    "lease": "is not a finite number of seconds above 0",
    "poll": "is not a finite number of seconds, 0 or more",
    "retention": "is not a finite number of seconds or a timedelta, 0 or more",
    "prune_every": "is not a finite number of seconds, 0 or more",
    "backoff_cap": "is not a finite number of seconds, 0 or more",
    "backoff": "is not callable: a function of the failures in a row, returning seconds",
}


class OutboxError(SetupError):
    """An outbox or relay is set up or called wrongly; nothing was written.

    Attributes:
        where: the call (``"SqliteOutbox()"``, ``"Relay()"``, ...).
        problem: see `OutboxProblem`.
        option: the argument at fault.
        value: what it was given.
    """

    problem: OutboxProblem

    def __init__(self, where: str, problem: OutboxProblem, *, option: str, value: object) -> None:
        super().__init__(where, problem, option=option, value=value)

    def _explain(self) -> tuple[str, str]:
        option = self.option
        return {
            "table": (
                "is not a plain SQL name",
                "use letters, digits and underscores, not starting with a digit "
                "(table='mediator_outbox')",
            ),
            "no-database": (
                "is missing: the relay's side opens its own connections",
                "pass database='app.db' (the path the application writes to) or "
                "connect=lambda: sqlite3.connect('app.db', check_same_thread=False)",
            ),
            "autocommit": (
                "is in autocommit mode outside a transaction, so the outbox rows would "
                "commit without the business rows",
                "open a transaction first (connection.execute('BEGIN')), or use a connection "
                "in sqlite3's default mode (not isolation_level=None, not autocommit=True) and "
                "a `with connection:` block",
            ),
            "option": (
                _OPTIONS.get(option, "is not a valid setting"),
                "pass counts as ints, seconds as finite numbers and backoff as a function, "
                "such as batch=100, lease=30.0, poll=0.5, backoff=lambda failures: 1.0",
            ),
            "publish-kwargs": (
                "is not something an outbox row carries",
                "pass only key= (the partition key) and headers= (a dict of str) "
                "to EventAggregate.enqueue() or publish()",
            ),
            "forward-background": (
                "runs its handlers in the background, after the publishing code moved on, so "
                "the outbox rows would miss the transaction",
                "forward from a bus with strategy='sequential' (the default) or 'concurrent'",
            ),
            "stream": ("is not a stream name", "pass a non-empty str, such as stream='orders'"),
            "parameter": (
                "is not a parameter name",
                "pass the name the connection is published or provided under, such as "
                "connection='db'",
            ),
            "types": (
                "names no event classes to forward",
                "pass types=[OrderPlaced, ...], or register the classes with the codec's "
                "EventTypes first",
            ),
            "thread": (
                "returned a connection bound to the thread that made it, but the relay's "
                "side runs its statements in worker threads",
                "connect with sqlite3.connect(..., check_same_thread=False)",
            ),
            "connection": (
                "is not a sqlite3.Connection",
                "publish the event with the application's open connection: "
                "await bus.publish(event, db=connection), or provide it",
            ),
        }[self.problem]


class OutboxPublisher(EventPublisher):
    """Publishes into an outbox on one open transaction: ``EventAggregate().use(...)``.

    ``publish`` writes the event's row at once, in order; nothing is sent
    before the application commits its transaction.  ``transaction()`` wraps
    one `EventAggregate.commit` in a savepoint, so that a commit that fails
    half-way leaves none of its rows behind (and all its events staged),
    while the application's own transaction stays open.  A store provides
    `_write` and `_savepoint`.
    """

    def __init__(
        self, stream: str, *, key: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        self.stream = stream
        self.key = key
        self.headers = dict(headers or {})

    async def publish(self, event: Any, /, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - {"key", "headers"})
        if unknown:
            name = unknown[0]
            where = f"{type(self).__name__}.publish()"
            raise OutboxError(where, "publish-kwargs", option=name, value=kwargs[name])
        headers = {**self.headers, **kwargs.get("headers", {})}
        await self._write(event, kwargs.get("key", self.key), headers)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[EventPublish]:
        async with self._savepoint():
            yield self

    async def _write(self, event: object, key: str | None, headers: Mapping[str, str]) -> None:
        raise NotImplementedError

    def _savepoint(self) -> contextlib.AbstractAsyncContextManager[None]:
        raise NotImplementedError
