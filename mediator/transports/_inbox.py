"""The inbox: a handler's effect applied once per consumer group, however often its event comes.

Delivery is at least once: a worker that dies after a handler ran and
before the ack, or a relay that dies between append and mark, brings the
event again.  `idempotent` remembers, per (group, event id, handler), that
the handler finished, and skips it the next time.

The record is exact when it is written in the transaction that holds the
handler's own writes (``idempotent(inbox, connection="db")``): both commit or
neither does.  Without a shared transaction the record is written after the
handler returned, so a crash between the two applies the effect again on
redelivery: at least once, with a window of one handler call.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from keyword import iskeyword
from typing import Any, Literal, Protocol, runtime_checkable

from .._chain import AroundMiddleware, Next, around
from ._errors import SetupError
from ._worker import Delivery

__all__ = ["InboxAttempt", "InboxError", "InboxKey", "InboxStore", "idempotent"]

logger = logging.getLogger("mediator.transports")


@dataclass(frozen=True, slots=True)
class InboxKey:
    """What the inbox remembers: this handler finished this event for this group."""

    group: str
    event_id: str
    #: The handler's qualified name (``app.billing.charge``): renaming it forgets its records.
    handler: str


@dataclass(frozen=True, slots=True)
class InboxAttempt:
    """What `InboxStore.attempt` found: skip the handler, or run it (in ``transaction``)."""

    #: The key was recorded already: the handler's effect is in place; do not run it.
    applied: bool
    #: With ``share=True``, the open transaction's handle, for the handler's writes.
    transaction: Any = None


@runtime_checkable
class InboxStore(Protocol):
    """Where `idempotent` records finished handlers: `SqliteInbox`, or a store of your own."""

    def attempt(
        self, key: InboxKey | None, *, share: bool
    ) -> AbstractAsyncContextManager[InboxAttempt]:
        """One handler call, recorded under ``key`` if it finishes.

        On entry, ``applied`` says whether ``key`` is recorded already.  With
        ``share``, the store opens a transaction and gives it to the handler,
        and records ``key`` in it: leaving the block without an error commits,
        with one rolls back.  Without ``share``, ``key`` is recorded after the
        block ends without an error.  ``key`` is ``None`` for a call that did
        not come from a worker (a local ``publish``): nothing is checked or
        recorded, but the transaction is still given with ``share``.
        """
        ...


InboxProblem = Literal[
    "store", "parameter", "no-database", "table", "thread", "nested", "committed", "shared"
]


class InboxError(SetupError):
    """An inbox is set up wrongly; nothing was recorded.

    Attributes:
        where: the call (``"idempotent()"``, ``"SqliteInbox()"``).
        problem: see `InboxProblem`.
        option: the argument at fault.
        value: what it was given.
    """

    problem: InboxProblem

    def __init__(self, where: str, problem: InboxProblem, *, option: str, value: object) -> None:
        super().__init__(where, problem, option=option, value=value)

    def _explain(self) -> tuple[str, str]:
        return {
            "store": (
                "is not an inbox store (it has no attempt() method)",
                "pass an inbox: idempotent(SqliteInbox(database='app.db'))",
            ),
            "parameter": (
                "is not a parameter name",
                "pass the name of the handler's parameter that takes the transaction, "
                "such as connection='db'",
            ),
            "no-database": (
                "is missing",
                "pass database='app.db' or connect=lambda: sqlite3.connect('app.db', "
                "check_same_thread=False)",
            ),
            "table": (
                "is not a plain SQL name",
                "use letters, digits and underscores, not starting with a digit",
            ),
            "thread": (
                "returned a connection bound to the thread that made it, but the inbox "
                "runs its transaction's statements in worker threads",
                "connect with sqlite3.connect(..., check_same_thread=False)",
            ),
            "nested": (
                "comes from a handler that runs inside another handler's shared transaction "
                "of the same inbox, which it would wait for forever",
                "let the outer handler collect the inner event (an EventAggregate, or a row in "
                "its outbox) and publish it once it returned, or give the inner handlers an "
                "inbox of their own on another database",
            ),
            "committed": (
                "was handled by a handler that committed or rolled back the inbox's shared "
                "transaction itself, so its writes and the inbox's record no longer commit "
                "together",
                "leave the transaction to the inbox: no db.commit(), db.rollback() or "
                "`with db:` in a handler given connection=; raise to roll back",
            ),
            "shared": (
                "was handled by a handler that committed or rolled back the transaction it "
                "shared with other handlers (group_commit=True), so their writes may not have "
                "been saved; their events come again, to be applied or skipped",
                "leave the transaction to the inbox: no db.commit(), db.rollback() or "
                "`with db:` in a handler given connection=; raise to roll back",
            ),
        }[self.problem]


def idempotent(store: InboxStore, *, connection: str | None = None) -> AroundMiddleware:
    """Middleware that runs a handler at most once per (group, event id, handler).

    Calls from a `Worker` carry their ``delivery``; for each, a handler whose
    key the ``store`` has recorded is skipped, and one that finishes is
    recorded.  Other calls run unchecked.

    ``connection``: the name of the handler's parameter that receives the
    store's open transaction (for `SqliteInbox`, a ``sqlite3.Connection``).
    The handler's writes on it and the record commit together, so even a
    crash between them cannot apply the effect twice.  The handler must not
    commit or roll back that transaction itself.
    """
    if not callable(getattr(store, "attempt", None)):
        raise InboxError("idempotent()", "store", option="store", value=store)
    name: object = connection  # checked, whatever typed
    if name is not None and (
        not isinstance(name, str) or not name.isidentifier() or iskeyword(name)
    ):
        raise InboxError("idempotent()", "parameter", option="connection", value=connection)
    share = connection is not None

    async def middleware(
        message: Any, kwargs: dict[str, Any], call_next: Next
    ) -> AsyncIterator[Any]:
        delivery = kwargs.get("delivery")
        key = (
            InboxKey(delivery.group, delivery.event_id, call_next.handler.name)
            if isinstance(delivery, Delivery)
            else None
        )
        async with store.attempt(key, share=share) as attempt:
            if attempt.applied and isinstance(delivery, Delivery):
                logger.info(
                    "Event %s (%s) of %s skipped by %s: already applied for group %s",
                    delivery.event_id,
                    delivery.type,
                    delivery.stream,
                    call_next.handler.name,
                    delivery.group,
                )
                yield None
                return
            if connection is not None:
                kwargs = {**kwargs, connection: attempt.transaction}
            yield await call_next(message, kwargs)

    label = f"idempotent({store!r}" + (f", connection={connection!r})" if share else ")")
    middleware.__name__ = "idempotent"
    middleware.__qualname__ = label
    return around(middleware, provides=(connection,) if connection is not None else ())
