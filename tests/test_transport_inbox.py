"""The inbox: idempotent() and SqliteInbox, one effect per (group, event id, handler)."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from mediator import LocalEventBus, LocalRequestBus
from mediator.errors import PublishError
from mediator.transports import (
    Delivery,
    InboxError,
    InboxKey,
    InboxStore,
    SqliteInbox,
    _sqlite_inbox,
    idempotent,
    new_id,
)
from mediator.transports._context import enter_commits, leave_commits


@dataclass(frozen=True)
class Placed:
    order_id: int


@dataclass(frozen=True)
class Total:
    order_id: int


def a_delivery(**changes: Any) -> Delivery:
    fields: dict[str, Any] = {
        "event_id": new_id(),
        "entry_id": "1-0",
        "attempt": 1,
        "stream": "orders",
        "group": "billing",
        "consumer": "billing-1",
        "type": "orders.placed",
        "version": 1,
        "occurred_at": datetime.now(UTC),
        "headers": {},
    }
    fields.update(changes)
    return Delivery(**fields)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "app.db"


@pytest.fixture
def db(path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE charges (order_id INTEGER)")
    connection.commit()
    yield connection
    connection.close()


@pytest.fixture(params=[False, True], ids=["own-commit", "group-commit"])
def inbox(path: Path, db: sqlite3.Connection, request: pytest.FixtureRequest) -> SqliteInbox:
    """Both ways to commit: outside a worker, a group commits as each handler ends."""
    inbox = SqliteInbox(database=path, group_commit=request.param)
    inbox.create(db)
    yield inbox  # type: ignore[misc]
    inbox.close()


def wal(path: Path, *, journal: str = "wal") -> sqlite3.Connection:
    """A connection whose commits do not wait for the disk (with ``journal="wal"``)."""
    connection = sqlite3.connect(path, check_same_thread=False)
    connection.execute(f"PRAGMA journal_mode = {journal}")
    connection.execute("PRAGMA synchronous = NORMAL")
    return connection


@pytest.fixture
def young(monkeypatch: pytest.MonkeyPatch) -> None:
    """A group stays open for the next handler however slow the machine (not 5 ms)."""
    monkeypatch.setattr(_sqlite_inbox, "_YOUNG", 60.0)


@contextlib.contextmanager
def as_a_worker() -> Iterator[list[Any]]:
    """What a worker does around a delivery: collect the commits its handlers leave to it."""
    commits: list[Any] = []
    token = enter_commits(commits)
    try:
        yield commits
    finally:
        leave_commits(token)


def charges(db: sqlite3.Connection) -> list[int]:
    return [order for (order,) in db.execute("SELECT order_id FROM charges")]


async def test_a_redelivered_event_is_applied_once_in_the_shared_transaction(
    db: sqlite3.Connection, inbox: SqliteInbox
) -> None:
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])
    calls: list[int] = []

    @bus.register
    async def charge(event: Placed, db: sqlite3.Connection) -> None:
        assert db.in_transaction  # the inbox's open transaction
        calls.append(event.order_id)
        db.execute("INSERT INTO charges VALUES (?)", (event.order_id,))

    delivery = a_delivery()
    await bus.publish(Placed(1), delivery=delivery)
    await bus.publish(Placed(1), delivery=replace(delivery, attempt=2, entry_id="2-0"))
    assert calls == [1]
    assert charges(db) == [1]
    assert await inbox.applied() == [
        InboxKey("billing", delivery.event_id, f"{__name__}.{charge.__qualname__}")
    ]
    # Another group applies it too: the key is per group.
    await bus.publish(Placed(1), delivery=replace(delivery, group="audit"))
    assert charges(db) == [1, 1]


async def test_a_failed_handler_rolls_back_its_writes_and_its_record(
    db: sqlite3.Connection, inbox: SqliteInbox
) -> None:
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])
    failures = [RuntimeError("card declined")]

    @bus.register
    async def charge(event: Placed, db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO charges VALUES (?)", (event.order_id,))
        if failures:
            raise failures.pop()

    delivery = a_delivery()
    with pytest.raises(PublishError):
        await bus.publish(Placed(2), delivery=delivery)
    assert charges(db) == []
    assert await inbox.applied() == []
    await bus.publish(Placed(2), delivery=replace(delivery, attempt=2))
    assert charges(db) == [2]


async def test_each_handler_of_an_event_is_recorded_on_its_own(
    db: sqlite3.Connection, inbox: SqliteInbox
) -> None:
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])
    runs: list[str] = []
    failing = [True]

    @bus.register
    async def charge(event: Placed, db: sqlite3.Connection) -> None:
        runs.append("charge")

    @bus.register
    async def notify(event: Placed) -> None:
        runs.append("notify")
        if failing.pop():
            raise ConnectionError("mail server down")

    failing.append(False)
    failing.reverse()  # [True, False]: notify fails once
    delivery = a_delivery()
    with pytest.raises(PublishError):
        await bus.publish(Placed(3), delivery=delivery)
    await bus.publish(Placed(3), delivery=replace(delivery, attempt=2))
    assert runs == ["charge", "notify", "notify"]  # charge was not run again
    assert {key.handler.rpartition(".")[2] for key in await inbox.applied()} == {
        "charge",
        "notify",
    }


async def test_without_a_delivery_the_handler_runs_every_time_unrecorded(
    db: sqlite3.Connection, inbox: SqliteInbox
) -> None:
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])

    @bus.register
    async def charge(event: Placed, db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO charges VALUES (?)", (event.order_id,))

    await bus.publish(Placed(4))
    await bus.publish(Placed(4))
    assert charges(db) == [4, 4]  # a local publish is not redelivered: nothing to remember
    assert await inbox.applied() == []


async def test_concurrent_deliveries_of_one_event_apply_it_once(
    db: sqlite3.Connection, inbox: SqliteInbox
) -> None:
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])

    @bus.register
    async def charge(event: Placed, db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO charges VALUES (?)", (event.order_id,))
        await anyio.lowlevel.checkpoint()  # others run while this one holds the transaction
        db.execute("INSERT INTO charges VALUES (?)", (-event.order_id,))

    async def deliver(event: Placed, delivery: Delivery) -> None:
        await bus.publish(event, delivery=delivery)

    delivery = a_delivery()
    async with anyio.create_task_group() as group:
        for n in range(6):
            group.start_soon(deliver, Placed(5), replace(delivery, attempt=n + 1))
        for n in range(6):  # and other events alongside, each applied once
            group.start_soon(deliver, Placed(10 + n), a_delivery())
    assert sorted(charges(db)) == sorted([5, -5, *range(10, 16), *(-n for n in range(10, 16))])


async def test_without_a_shared_transaction_the_record_follows_the_handler(
    inbox: SqliteInbox, caplog: pytest.LogCaptureFixture
) -> None:
    bus = LocalEventBus(modifiers=[idempotent(inbox)])
    calls: list[int] = []
    failures = [ValueError("once")]

    @bus.register
    async def mail(event: Placed) -> None:
        calls.append(event.order_id)
        if failures:
            raise failures.pop()

    delivery = a_delivery()
    with pytest.raises(PublishError):
        await bus.publish(Placed(6), delivery=delivery)
    assert await inbox.applied() == []
    with caplog.at_level(logging.INFO, logger="mediator.transports"):
        await bus.publish(Placed(6), delivery=replace(delivery, attempt=2))
        await bus.publish(Placed(6), delivery=replace(delivery, attempt=3))
    assert calls == [6, 6]
    (skipped,) = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped.getMessage() == (
        f"Event {delivery.event_id} (orders.placed) of orders skipped by "
        f"{__name__}.{mail.__qualname__}: already applied for group billing"
    )


async def test_a_cancelled_handler_rolls_back_and_its_connection_is_not_reused_dirty(
    db: sqlite3.Connection, inbox: SqliteInbox
) -> None:
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])
    entered = anyio.Event()

    @bus.register
    async def charge(event: Placed, db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO charges VALUES (?)", (event.order_id,))
        entered.set()
        await anyio.sleep_forever()

    delivery = a_delivery()
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: bus.publish(Placed(7), delivery=delivery))
        await entered.wait()
        group.cancel_scope.cancel()
    assert charges(db) == []
    assert await inbox.applied() == []

    @bus.register
    async def settle(event: Total, db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO charges VALUES (?)", (event.order_id,))

    await bus.publish(Total(8), delivery=a_delivery())
    assert charges(db) == [8]


async def test_the_transaction_counts_as_provided_for_freeze(inbox: SqliteInbox) -> None:
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])
    bus.expect("tenant")

    @bus.register
    async def charge(event: Placed, db: sqlite3.Connection, tenant: str) -> None:
        pass

    bus.freeze()  # db comes from idempotent(), tenant from the call


async def test_on_a_request_bus_calls_run_unchecked(inbox: SqliteInbox) -> None:
    bus = LocalRequestBus(modifiers=[idempotent(inbox)])

    @bus.register
    async def total(query: Total) -> int:
        return query.order_id * 10

    assert await bus.execute(Total(3)) == 30
    assert await bus.execute(Total(3), delivery=a_delivery()) == 30
    assert await bus.execute(Total(3), delivery=a_delivery()) == 30


async def test_prune_forgets_old_keys(path: Path, db: sqlite3.Connection) -> None:
    now = [1_000_000.0]
    inbox = SqliteInbox(database=path, clock=lambda: now[0])
    inbox.create(db)
    bus = LocalEventBus(modifiers=[idempotent(inbox)])

    @bus.register
    async def mail(event: Placed) -> None:
        pass

    await bus.publish(Placed(1), delivery=a_delivery())
    now[0] += 3600
    await bus.publish(Placed(2), delivery=a_delivery())
    cutoff = datetime.fromtimestamp(now[0], UTC) - timedelta(minutes=30)
    assert await inbox.prune(cutoff) == 1
    assert len(await inbox.applied()) == 1
    inbox.close()


def test_sqlite_inbox_is_an_inbox_store(inbox: SqliteInbox) -> None:
    assert isinstance(inbox, InboxStore)
    assert repr(inbox).startswith("SqliteInbox(table='mediator_inbox', database=")


def test_idempotent_refuses_what_is_not_a_store() -> None:
    with pytest.raises(InboxError) as caught:
        idempotent(object())  # type: ignore[arg-type]
    error = caught.value
    assert (error.where, error.problem, error.option) == ("idempotent()", "store", "store")
    assert str(error).startswith("idempotent(): store=<object object at")
    assert str(error).endswith(
        "is not an inbox store (it has no attempt() method).\n"
        "Tip: Pass an inbox: idempotent(SqliteInbox(database='app.db'))."
    )


@pytest.mark.parametrize("name", ["", "no spaces", "class", 7])
def test_idempotent_refuses_a_bad_parameter_name(inbox: SqliteInbox, name: object) -> None:
    with pytest.raises(InboxError) as caught:
        idempotent(inbox, connection=name)  # type: ignore[arg-type]
    assert (caught.value.problem, caught.value.value) == ("parameter", name)


def test_sqlite_inbox_set_up_errors(tmp_path: Path) -> None:
    with pytest.raises(InboxError) as caught:
        SqliteInbox()
    assert caught.value.problem == "no-database"
    assert "Tip: Pass database='app.db'" in str(caught.value)
    with pytest.raises(InboxError) as caught:
        SqliteInbox(database=tmp_path / "x.db", table="drop table;")
    assert (caught.value.problem, caught.value.value) == ("table", "drop table;")


async def test_a_connection_bound_to_its_thread_is_a_clear_error(path: Path) -> None:
    inbox = SqliteInbox(connect=lambda: sqlite3.connect(path))
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])

    @bus.register
    async def charge(event: Placed, db: sqlite3.Connection) -> None:
        pass

    with pytest.raises(PublishError) as caught:
        await bus.publish(Placed(1), delivery=a_delivery())
    error = caught.value.failures[0].exception
    assert isinstance(error, InboxError)
    assert error.problem == "thread"
    assert "check_same_thread=False" in str(error)
    inbox.close()


async def test_a_nested_shared_transaction_is_a_clear_error_not_a_deadlock(
    db: sqlite3.Connection, inbox: SqliteInbox
) -> None:
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])

    @bus.register
    async def outer(event: Placed, db: sqlite3.Connection) -> None:
        await bus.publish(Total(event.order_id))

    @bus.register
    async def inner(event: Total, db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO charges VALUES (?)", (event.order_id,))

    with pytest.raises(PublishError) as caught:
        await bus.publish(Placed(9), delivery=a_delivery())
    nested = caught.value.failures[0].exception
    assert isinstance(nested, PublishError)
    error = nested.failures[0].exception
    assert isinstance(error, InboxError)
    assert (error.where, error.problem, error.option) == ("SqliteInbox.attempt()", "nested", "key")
    assert str(error) == (
        f"SqliteInbox.attempt(): key={error.value!r} comes from a handler that runs inside "
        "another handler's shared transaction of the same inbox, which it would wait for "
        "forever.\n"
        "Tip: Let the outer handler collect the inner event (an EventAggregate, or a row in "
        "its outbox) and publish it once it returned, or give the inner handlers an inbox of "
        "their own on another database."
    )
    assert charges(db) == []
    await bus.publish(Total(10))  # the inbox is usable again
    assert charges(db) == [10]


def test_the_committed_message() -> None:
    key = InboxKey(group="billing", event_id="e1", handler="charge")
    error = InboxError("SqliteInbox.attempt()", "committed", option="key", value=key)
    assert (error.where, error.problem, error.option, error.value) == (
        "SqliteInbox.attempt()",
        "committed",
        "key",
        key,
    )
    assert str(error) == (
        "SqliteInbox.attempt(): key=InboxKey(group='billing', event_id='e1', handler='charge') "
        "was handled by a handler that committed or rolled back the inbox's shared "
        "transaction itself, so its writes and the inbox's record no longer commit together.\n"
        "Tip: Leave the transaction to the inbox: no db.commit(), db.rollback() or `with db:` "
        "in a handler given connection=; raise to roll back."
    )


def _commit(db: sqlite3.Connection) -> None:
    db.commit()


def _rollback(db: sqlite3.Connection) -> None:
    db.rollback()


def _with_block(db: sqlite3.Connection) -> None:
    with db:
        pass


@pytest.mark.parametrize("end", [_commit, _rollback, _with_block])
async def test_a_handler_that_ends_the_shared_transaction_itself_is_an_error(
    db: sqlite3.Connection, inbox: SqliteInbox, end: Callable[[sqlite3.Connection], None]
) -> None:
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])

    @bus.register
    async def charge(event: Placed, db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO charges VALUES (?)", (event.order_id,))
        if event.order_id == 1:
            end(db)  # wrong: the inbox commits, or rolls back when the handler raises

    delivery = a_delivery()
    with pytest.raises(PublishError) as caught:
        await bus.publish(Placed(1), delivery=delivery)
    error = caught.value.failures[0].exception
    assert isinstance(error, InboxError)
    assert (error.where, error.problem, error.option) == (
        "SqliteInbox.attempt()",
        "committed",
        "key",
    )
    assert (error.value.group, error.value.event_id) == ("billing", delivery.event_id)
    # Nothing stays open: the inbox takes the next event.
    await bus.publish(Placed(2), delivery=a_delivery())
    assert charges(db)[-1] == 2


async def test_a_failing_handler_that_committed_keeps_its_error_with_a_note(
    db: sqlite3.Connection, inbox: SqliteInbox
) -> None:
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])

    @bus.register
    async def charge(event: Placed, db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO charges VALUES (?)", (event.order_id,))
        db.commit()  # wrong: the inbox commits
        raise RuntimeError("after the commit")

    with pytest.raises(PublishError) as caught:
        await bus.publish(Placed(1), delivery=a_delivery())
    failed = caught.value.failures[0].exception
    assert isinstance(failed, RuntimeError)  # the handler's own error, explained by a note
    assert str(failed) == "after the commit"
    [note] = [note for note in failed.__notes__ if note.startswith("SqliteInbox.attempt()")]
    assert note.startswith("SqliteInbox.attempt(): key=InboxKey(group='billing'")
    assert "committed or rolled back the inbox's shared transaction itself" in note
    assert charges(db) == [1]  # committed by the handler, with the inbox's record


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sqlite3's autocommit= is Python 3.12+")
@pytest.mark.parametrize("autocommit", [False, True])
async def test_connections_opened_with_python_312_autocommit_work(
    path: Path, db: sqlite3.Connection, autocommit: bool
) -> None:
    inbox = SqliteInbox(
        connect=lambda: sqlite3.connect(path, autocommit=autocommit, check_same_thread=False)  # type: ignore[call-arg,unused-ignore]
    )
    inbox.create(db)
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])

    @bus.register
    async def charge(event: Placed, db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO charges VALUES (?)", (event.order_id,))

    delivery = a_delivery()
    await bus.publish(Placed(1), delivery=delivery)
    await bus.publish(Placed(1), delivery=replace(delivery, attempt=2))  # absorbed
    assert charges(db) == [1]
    assert len(await inbox.applied()) == 1
    inbox.close()


async def test_handlers_waiting_for_the_transaction_take_turns_past_cancelled_ones(
    path: Path, db: sqlite3.Connection
) -> None:
    inbox = SqliteInbox(connect=lambda: wal(path))  # commits on the loop: no await after it
    inbox.create(db)
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])
    holding, go_on = anyio.Event(), anyio.Event()
    scopes = {2: anyio.CancelScope(), 3: anyio.CancelScope()}

    @bus.register
    async def charge(event: Placed, db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO charges VALUES (?)", (event.order_id,))
        if event.order_id == 1:
            holding.set()
            await go_on.wait()
            scopes[3].cancel()  # still queued: it is handed the turn as it is cancelled

    async def deliver(order_id: int) -> None:
        with scopes.get(order_id, anyio.CancelScope()):
            await bus.publish(Placed(order_id), delivery=a_delivery())

    async with anyio.create_task_group() as group:
        group.start_soon(deliver, 1)
        await holding.wait()
        for order_id in (2, 3, 4):  # queued in this order behind the first
            group.start_soon(deliver, order_id)
            await anyio.wait_all_tasks_blocked()
        scopes[2].cancel()  # leaves the queue
        await anyio.wait_all_tasks_blocked()
        go_on.set()
    assert charges(db) == [1, 4]
    assert len(await inbox.applied()) == 2
    await bus.publish(Placed(5), delivery=a_delivery())  # nobody kept the turn
    assert charges(db) == [1, 4, 5]
    inbox.close()


@pytest.mark.parametrize("journal", ["wal", "delete"])
async def test_a_write_lock_held_elsewhere_is_waited_for_off_the_loop(
    path: Path, db: sqlite3.Connection, journal: str
) -> None:
    def connect() -> sqlite3.Connection:
        return wal(path, journal=journal)

    inbox = SqliteInbox(connect=connect)
    inbox.create(db)
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])
    done = anyio.Event()

    @bus.register
    async def charge(event: Placed, db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO charges VALUES (?)", (event.order_id,))

    async def deliver() -> None:
        await bus.publish(Placed(1), delivery=a_delivery())
        done.set()

    other = connect()  # another process, as far as SQLite is concerned
    other.isolation_level = None
    other.execute("BEGIN IMMEDIATE")
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(deliver)
            # Its BEGIN was refused and waits in a thread: the loop goes on meanwhile.
            await anyio.wait_all_tasks_blocked()
            assert not done.is_set()
            other.execute("COMMIT")
            with anyio.fail_after(5):
                await done.wait()
    finally:
        other.close()
        inbox.close()
    assert charges(db) == [1]


async def test_a_connection_that_cannot_be_opened_leaves_the_inbox_usable(
    path: Path, db: sqlite3.Connection
) -> None:
    opened: list[None] = []

    def connect() -> sqlite3.Connection:
        opened.append(None)
        if len(opened) == 1:
            raise sqlite3.OperationalError("unable to open database file")
        return sqlite3.connect(path, check_same_thread=False)

    inbox = SqliteInbox(connect=connect)
    inbox.create(db)
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])

    @bus.register
    async def charge(event: Placed, db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO charges VALUES (?)", (event.order_id,))

    with pytest.raises(PublishError) as caught:
        await bus.publish(Placed(1), delivery=a_delivery())
    assert str(caught.value.failures[0].exception) == "unable to open database file"
    with anyio.fail_after(5):  # the turn was given back: the next call does not wait for it
        await bus.publish(Placed(2), delivery=a_delivery())
    assert charges(db) == [2]
    inbox.close()


def test_the_shared_message() -> None:
    key = InboxKey(group="billing", event_id="e2", handler="charge")
    error = InboxError("SqliteInbox.attempt()", "shared", option="key", value=key)
    assert (error.problem, error.option, error.value) == ("shared", "key", key)
    assert str(error) == (
        "SqliteInbox.attempt(): key=InboxKey(group='billing', event_id='e2', handler='charge') "
        "was handled by a handler that committed or rolled back the transaction it shared "
        "with other handlers (group_commit=True), so their writes may not have been saved; "
        "their events come again, to be applied or skipped.\n"
        "Tip: Leave the transaction to the inbox: no db.commit(), db.rollback() or `with db:` "
        "in a handler given connection=; raise to roll back."
    )


async def test_a_group_left_for_the_worker_to_commit_is_rolled_back_by_close(
    path: Path, db: sqlite3.Connection, young: None
) -> None:

    inbox = SqliteInbox(database=path, group_commit=True)
    inbox.create(db)
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="tx")])

    @bus.register
    async def charge(event: Placed, tx: sqlite3.Connection) -> None:
        tx.execute("INSERT INTO charges VALUES (?)", (event.order_id,))

    with as_a_worker() as left:
        await bus.publish(Placed(1), delivery=a_delivery())
        await bus.publish(Placed(2), delivery=a_delivery())
    assert len(left) == 2 and left[0] is left[1]  # one group for both
    assert charges(db) == []  # not committed yet
    inbox.close()
    failure = await left[0].settle()
    assert isinstance(failure, sqlite3.ProgrammingError)
    assert str(failure) == "SqliteInbox.close() came before the commit"
    assert charges(db) == [] and await SqliteInbox(database=path).applied() == []


async def test_in_a_group_a_failed_or_cancelled_handler_undoes_only_its_own_writes(
    path: Path, db: sqlite3.Connection
) -> None:

    inbox = SqliteInbox(database=path, group_commit=True)
    inbox.create(db)
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="tx")])
    inside = anyio.Event()

    @bus.register
    async def charge(event: Placed, tx: sqlite3.Connection) -> None:
        tx.execute("INSERT INTO charges VALUES (?)", (event.order_id,))
        if event.order_id == 2:
            raise ValueError("declined")
        if event.order_id == 3:
            inside.set()
            await anyio.sleep_forever()

    deliveries = {n: a_delivery() for n in range(1, 5)}
    with as_a_worker() as left:
        await bus.publish(Placed(1), delivery=deliveries[1])
        with pytest.raises(PublishError):
            await bus.publish(Placed(2), delivery=deliveries[2])
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(lambda: bus.publish(Placed(3), delivery=deliveries[3]))
            await inside.wait()
            tasks.cancel_scope.cancel()
        await bus.publish(Placed(4), delivery=deliveries[4])
    # All four joined one group (2 and 3 in savepoints); 4 committed it, unless it was
    # still young enough to leave that to the worker too.
    assert {id(group) for group in left} == {id(left[0])}
    assert [await group.settle() for group in left] == [None] * len(left)
    assert await left[0].settle() is None  # once: the same outcome again
    assert charges(db) == [1, 4]
    assert {key.event_id for key in await inbox.applied()} == {
        deliveries[1].event_id,
        deliveries[4].event_id,
    }
    inbox.close()


def fk_inbox(path: Path, db: sqlite3.Connection) -> SqliteInbox:
    """A grouping inbox whose connections check foreign keys (a write failing at COMMIT)."""

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, check_same_thread=False)
        connection.execute("PRAGMA foreign_keys = ON")
        return connection

    db.executescript(
        """
        CREATE TABLE accounts (id INTEGER PRIMARY KEY);
        CREATE TABLE postings (
            account INTEGER REFERENCES accounts (id) DEFERRABLE INITIALLY DEFERRED
        );
        """
    )
    inbox = SqliteInbox(connect=connect, group_commit=True)
    inbox.create(db)
    return inbox


async def test_a_skip_on_a_record_not_yet_committed_waits_for_its_group(
    path: Path, db: sqlite3.Connection, young: None
) -> None:
    """The same event again while its first run's group is open: the skip's ack waits."""

    inbox = fk_inbox(path, db)
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="tx")])
    runs: list[int] = []

    @bus.register
    async def post(event: Placed, tx: sqlite3.Connection) -> None:
        runs.append(event.order_id)
        tx.execute("INSERT INTO postings VALUES (?)", (event.order_id,))  # no such account

    first, again = a_delivery(), a_delivery()
    again = replace(again, event_id=first.event_id)
    commits: list[list[Any]] = []
    for delivery in (a_delivery(), first, again):
        with as_a_worker() as left:
            await bus.publish(Placed(len(runs)), delivery=delivery)
        commits.append(left)
    _, first_commits, again_commits = commits
    assert runs == [0, 1]  # skipped the second time: its record is in the open group
    (group,) = set(again_commits)
    assert group is first_commits[0]  # so the skip is acked only once that group commits
    failure = await group.settle()  # and it cannot: the skip is not acked, the event comes back
    assert isinstance(failure, sqlite3.IntegrityError)
    assert await inbox.applied() == []
    inbox.close()


async def test_a_local_publish_commits_an_open_group_first_and_keeps_its_own_fate(
    path: Path, db: sqlite3.Connection, young: None
) -> None:

    inbox = fk_inbox(path, db)
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="tx")])

    @bus.register
    async def charge(event: Placed, tx: sqlite3.Connection) -> None:
        tx.execute("INSERT INTO charges VALUES (?)", (event.order_id,))
        if event.order_id == 1:
            tx.execute("INSERT INTO postings VALUES (404)")  # fails at COMMIT

    with as_a_worker() as left:
        await bus.publish(Placed(1), delivery=a_delivery())  # a worker's: its commit waits
    await bus.publish(Placed(2))  # local: commits now, without the group's failure
    assert charges(db) == [2]
    failure = await left[0].settle()  # the group was committed first, and failed
    assert isinstance(failure, sqlite3.IntegrityError)
    inbox.close()


async def test_a_handler_closing_the_shared_connection_fails_its_group_and_frees_the_inbox(
    path: Path, db: sqlite3.Connection
) -> None:

    inbox = SqliteInbox(database=path, group_commit=True)
    inbox.create(db)
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="tx")])

    @bus.register
    async def charge(event: Placed, tx: sqlite3.Connection) -> None:
        tx.execute("INSERT INTO charges VALUES (?)", (event.order_id,))
        if event.order_id == 2:
            tx.close()

    with as_a_worker() as left:
        await bus.publish(Placed(1), delivery=a_delivery())
        with pytest.raises(PublishError) as raised:
            await bus.publish(Placed(2), delivery=a_delivery())
    (failure,) = raised.value.failures
    assert isinstance(failure.exception, InboxError) and failure.exception.problem == "committed"
    shared = await left[0].settle()  # the first handler's writes went with the connection
    assert isinstance(shared, InboxError) and shared.problem == "shared"
    await bus.publish(Placed(3), delivery=a_delivery())  # the inbox goes on, on a new connection
    assert charges(db) == [3]
    inbox.close()


async def test_an_unshared_attempt_commits_an_open_group_first_instead_of_waiting_for_it(
    path: Path, db: sqlite3.Connection
) -> None:
    """``idempotent(inbox)`` beside ``idempotent(inbox, connection=...)`` on one event."""

    inbox = SqliteInbox(database=path, group_commit=True, timeout=30.0)
    inbox.create(db)
    bus = LocalEventBus()
    sent: list[int] = []

    @bus.register(modifiers=[idempotent(inbox, connection="tx")])
    async def charge(event: Placed, tx: sqlite3.Connection) -> None:
        tx.execute("INSERT INTO charges VALUES (?)", (event.order_id,))

    @bus.register(modifiers=[idempotent(inbox)])
    async def notify(event: Placed) -> None:
        sent.append(event.order_id)

    with as_a_worker(), anyio.fail_after(10):  # not the 30 s of its own group's lock
        await bus.publish(Placed(1), delivery=a_delivery())
    assert sent == [1] and charges(db) == [1]
    assert len(await inbox.applied()) == 2
    inbox.close()


async def test_an_unshared_attempt_inside_a_shared_transaction_runs_or_says_nested(
    db: sqlite3.Connection, inbox: SqliteInbox
) -> None:
    """Unchecked (no delivery) it runs; with a key, its record would wait for the outer lock."""
    bus = LocalEventBus()
    noted: list[int] = []

    @bus.register(modifiers=[idempotent(inbox, connection="db")])
    async def outer(event: Placed, db: sqlite3.Connection, delivery: Delivery) -> None:
        db.execute("INSERT INTO charges VALUES (?)", (event.order_id,))
        await bus.publish(Total(event.order_id))  # a local event: no key
        if event.order_id == 2:
            await bus.publish(Total(event.order_id), delivery=delivery)  # keyed: refused

    @bus.register(modifiers=[idempotent(inbox)])
    async def note(event: Total) -> None:
        noted.append(event.order_id)

    with anyio.fail_after(10):
        await bus.publish(Placed(1), delivery=a_delivery())
        with pytest.raises(PublishError) as caught:
            await bus.publish(Placed(2), delivery=a_delivery())
    inner = caught.value.failures[0].exception
    assert isinstance(inner, PublishError)
    error = inner.failures[0].exception
    assert isinstance(error, InboxError) and error.problem == "nested"
    assert noted == [1, 2] and charges(db) == [1]


async def test_an_unshared_attempt_beside_a_concurrent_group_records_without_waiting_for_it(
    path: Path, db: sqlite3.Connection
) -> None:
    """Its record goes after a group opened while it ran, which it commits first."""

    inbox = SqliteInbox(database=path, group_commit=True, timeout=30.0)
    inbox.create(db)
    bus = LocalEventBus(strategy="concurrent")
    sending, sent = anyio.Event(), []

    @bus.register(modifiers=[idempotent(inbox)])
    async def notify(event: Placed) -> None:
        await sending.wait()  # the e-mail goes out while charge opens a group
        sent.append(event.order_id)

    @bus.register(modifiers=[idempotent(inbox, connection="tx")])
    async def charge(event: Placed, tx: sqlite3.Connection) -> None:
        tx.execute("INSERT INTO charges VALUES (?)", (event.order_id,))
        sending.set()

    with as_a_worker(), anyio.fail_after(10):  # not the 30 s of the group's lock
        await bus.publish(Placed(1), delivery=a_delivery())
    assert sent == [1] and charges(db) == [1]
    assert len(await inbox.applied()) == 2
    inbox.close()
