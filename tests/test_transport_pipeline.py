"""The whole pipeline in one process: outbox -> relay -> engine -> worker -> inbox.

Every test counts effects in an ``effects`` table with no unique constraint,
written in the inbox's transaction, so that a duplicate would show: each
event's effect must be there exactly once, nothing left pending, every
outbox row published.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from mediator import LocalEventBus
from mediator.transports import (
    Delivery,
    Envelope,
    EventTypes,
    Inbound,
    JsonCodec,
    MemoryEngine,
    OutboxRow,
    Relay,
    SqliteInbox,
    SqliteOutbox,
    Worker,
    _sqlite_inbox,
    correlation,
    idempotent,
    new_id,
)

types = EventTypes()


@types.register(name="orders.placed")
@dataclass(frozen=True)
class Placed:
    order_id: int


@types.register(name="billing.invoiced")
@dataclass(frozen=True)
class Invoiced:
    order_id: int


@dataclass(frozen=True)
class Viewed:
    """A local-only event: never registered, so never in the outbox."""

    order_id: int


codec = JsonCodec(types)


class Clock:
    """A clock the test moves: leases and claim delays pass without sleeping."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def connect(path: Path, **options: Any) -> sqlite3.Connection:
    """A connection that commits without fsync: tests need atomicity, not power-loss safety.

    Without it, a loaded disk makes each commit take a fifth of a second.
    """
    connection: sqlite3.Connection = sqlite3.connect(path, check_same_thread=False, **options)
    connection.execute("PRAGMA synchronous = OFF")
    return connection


class Progress:
    """Told at each step of the pipeline; `until` looks at its condition again after each.

    Not a loop of bare checkpoints: spinning on the event loop starves the
    threads the SQLite outbox and inbox work in (on trio, 20 events took 1 to
    2 seconds instead of 20 ms).
    """

    def __init__(self) -> None:
        self._step: anyio.Event | None = None  # made in the test's event loop, when waited for

    def tell(self) -> None:
        if self._step is not None:
            self._step.set()
            self._step = None

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait for ``condition()``, looked at after each step (never a timed sleep)."""
        with anyio.fail_after(10):
            while not condition():
                if self._step is None:
                    self._step = anyio.Event()
                await self._step.wait()


class Engine(MemoryEngine):
    """A `MemoryEngine` that tells the test's `Progress` after each call of the relay or worker.

    A worker calls it at least every ``block`` seconds, so a change that no
    call follows (a failed handler) is seen that late at most.
    """

    def __init__(self, progress: Progress, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock=clock)
        self.progress = progress

    async def append(self, stream: str, envelopes: Sequence[Envelope]) -> list[str]:
        try:
            return await super().append(stream, envelopes)
        finally:
            self.progress.tell()

    async def read_pending(
        self, stream: str, group: str, consumer: str, *, count: int, after: str | None = None
    ) -> list[Inbound]:
        try:
            return await super().read_pending(stream, group, consumer, count=count, after=after)
        finally:
            self.progress.tell()

    async def claim(
        self, stream: str, group: str, consumer: str, *, idle: float, count: int
    ) -> list[Inbound]:
        try:
            return await super().claim(stream, group, consumer, idle=idle, count=count)
        finally:
            self.progress.tell()

    async def read_new(
        self, streams: Sequence[str], group: str, consumer: str, *, count: int, block: float
    ) -> list[Inbound]:
        try:
            return await super().read_new(streams, group, consumer, count=count, block=block)
        finally:
            self.progress.tell()

    async def ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
        try:
            await super().ack(stream, group, entry_ids)
        finally:
            self.progress.tell()

    async def dead_letter(self, inbound: Inbound, group: str, reason: str) -> None:
        try:
            await super().dead_letter(inbound, group, reason)
        finally:
            self.progress.tell()


async def run_until(
    progress: Progress,
    condition: Callable[[], bool],
    *runs: Callable[[], Coroutine[Any, Any, None]],
) -> None:
    """Run relays, workers and producers until ``condition()``, then cancel them all."""
    async with anyio.create_task_group() as tasks:
        for run in runs:
            tasks.start_soon(run)
        await progress.until(condition)
        tasks.cancel_scope.cancel()


class Outbox(SqliteOutbox):
    """Counts the rows marked published, and tells ``progress``: what `Relay.run` tests wait for."""

    def __init__(self, progress: Progress, path: Path, *, clock: Callable[[], float]) -> None:
        super().__init__(codec, connect=lambda: connect(path), clock=clock)
        self.progress = progress
        self.marked = 0

    async def mark_published(self, relay_id: str, seqs: Sequence[int]) -> int:
        try:
            count = await super().mark_published(relay_id, seqs)
            self.marked += count
            return count
        finally:
            self.progress.tell()


class Producer:
    """The ordering service: business rows and integration events in one transaction."""

    def __init__(self, progress: Progress, path: Path) -> None:
        #: The outbox's clock, for leases: it starts at the real time, so nothing is pruned.
        self.clock = Clock(time.time())
        self.db = connect(path)
        self.db.execute("CREATE TABLE orders (id INTEGER NOT NULL)")
        self.db.commit()
        self.outbox = Outbox(progress, path, clock=self.clock)
        self.outbox.create(self.db)
        self.bus = LocalEventBus()
        self.outbox.forward(self.bus, stream="orders", connection="db", types=[Placed])
        self.local: list[object] = []

        @self.bus.register
        async def remember(event: Placed | Viewed) -> None:
            self.local.append(event)

    async def place(self, orders: Iterable[int], *, relay: Relay | None = None) -> None:
        for order in orders:
            with self.db:
                self.db.execute("INSERT INTO orders VALUES (?)", (order,))
                await self.bus.publish(Placed(order), db=self.db)
                await self.bus.publish(Viewed(order), db=self.db)  # local only
            if relay is not None:
                relay.wake()

    async def published(self) -> list[OutboxRow]:
        """The outbox rows, checked to be all published."""
        rows = await self.outbox.rows()
        assert [row.published_at is not None for row in rows] == [True] * len(rows)
        return rows


Hook = Callable[[Placed, Delivery, sqlite3.Connection], Awaitable[None]]


async def no_hook(event: Placed, delivery: Delivery, db: sqlite3.Connection) -> None:
    pass


class Consumer:
    """A subscribing service: its database, its inbox, and one handler writing an effect.

    The handler writes its effect first and then runs ``hook``, so a hook that
    raises also shows that the effect was rolled back with the inbox record.
    Without the inbox, the handler writes on an autocommit connection of its own.
    """

    def __init__(
        self,
        path: Path,
        *,
        inbox: bool = True,
        group_commit: bool = False,
        connector: Callable[[], sqlite3.Connection] | None = None,
    ) -> None:
        self.path = path
        self.hook: Hook = no_hook
        self.deliveries: list[Delivery] = []
        self.workers: list[Worker] = []
        with closing(sqlite3.connect(path)) as setup:
            # No UNIQUE constraint: a duplicate effect would show.
            setup.execute("CREATE TABLE effects (grp TEXT, order_id INTEGER, event_id TEXT)")
            setup.commit()
            self.inbox: SqliteInbox | None = None
            self.kwargs: dict[str, Any] = {}
            if inbox:
                self.inbox = SqliteInbox(
                    connect=connector or (lambda: connect(path)), group_commit=group_commit
                )
                self.inbox.create(setup)
                self.bus = LocalEventBus(modifiers=[idempotent(self.inbox, connection="db")])
            else:
                self.bus = LocalEventBus()
                self.kwargs["db"] = connect(path, isolation_level=None)

        @self.bus.register
        async def apply(event: Placed, db: sqlite3.Connection, delivery: Delivery) -> None:
            self.deliveries.append(delivery)
            db.execute(
                "INSERT INTO effects VALUES (?, ?, ?)",
                (delivery.group, event.order_id, delivery.event_id),
            )
            await self.hook(event, delivery, db)

    def worker(self, engine: Engine, group: str = "billing", **options: Any) -> Worker:
        settings: dict[str, Any] = {"consumer": f"{group}-1", "block": 0.05}
        settings.update(options)
        worker = Worker(
            engine, codec, self.bus, streams="orders", group=group, kwargs=self.kwargs, **settings
        )
        self.workers.append(worker)
        return worker

    def attempts(self, order: int) -> list[int]:
        return [d.attempt for d in self.deliveries if d.event_id == self.event_id(order)]

    def event_id(self, order: int) -> str:
        with closing(sqlite3.connect(self.path)) as db:
            (found,) = db.execute(
                "SELECT DISTINCT event_id FROM effects WHERE order_id = ?", (order,)
            ).fetchone()
        return str(found)

    def effects(self, group: str = "billing") -> dict[int, int]:
        """How many times each order's effect was applied."""
        with closing(sqlite3.connect(self.path)) as db:
            return dict(
                db.execute(
                    "SELECT order_id, count(*) FROM effects WHERE grp = ? GROUP BY order_id",
                    (group,),
                )
            )

    def close(self) -> None:
        if self.inbox is not None:
            self.inbox.close()
        for value in self.kwargs.values():
            value.close()


def once(orders: Iterable[int]) -> dict[int, int]:
    return dict.fromkeys(orders, 1)


@pytest.fixture
def progress() -> Progress:
    return Progress()


@pytest.fixture
def producer(progress: Progress, tmp_path: Path) -> Iterable[Producer]:
    made = Producer(progress, tmp_path / "orders.db")
    yield made
    made.db.close()


@pytest.fixture(params=[False, True], ids=["own-commit", "group-commit"])
def billing(tmp_path: Path, request: pytest.FixtureRequest) -> Iterable[Consumer]:
    """The consumer, with a transaction per handler or handlers grouped in one."""
    consumer = Consumer(tmp_path / "billing.db", group_commit=request.param)
    yield consumer
    consumer.close()


async def test_every_event_reaches_every_group_once_and_local_ones_stay_home(
    tmp_path: Path, progress: Progress, producer: Producer, billing: Consumer
) -> None:
    n = 50
    audit = Consumer(tmp_path / "audit.db")
    engine = Engine(progress)
    relay = Relay(producer.outbox, engine, relay_id="relay-1", poll=0.05)
    workers = [billing.worker(engine, "billing"), audit.worker(engine, "audit")]

    async def produce() -> None:
        await producer.place(range(n), relay=relay)

    try:
        await run_until(
            progress,
            lambda: producer.outbox.marked == n and all(w.stats().acked == n for w in workers),
            relay.run,
            *(w.run for w in workers),
            produce,
        )
    finally:
        audit.close()
    assert len(producer.local) == 2 * n  # local handlers saw both kinds
    rows = await producer.published()
    assert {row.envelope.type for row in rows} == {"orders.placed"}  # no Viewed left the process
    assert [e.id for _, e in engine.entries("orders")] == [row.envelope.id for row in rows]
    assert len(rows) == n
    assert billing.effects("billing") == once(range(n))
    assert audit.effects("audit") == once(range(n))
    for group in ("billing", "audit"):
        assert await engine.pending_count("orders", group) == 0
    assert [w.stats().failed for w in workers] == [0, 0]


async def test_a_handler_failing_twice_applies_its_effect_once_on_the_third_attempt(
    progress: Progress, producer: Producer, billing: Consumer
) -> None:
    n = 10
    clock = Clock()
    engine = Engine(progress, clock=clock)
    await producer.place(range(n))
    assert await Relay(producer.outbox, engine).run_once() == n

    async def flaky(event: Placed, delivery: Delivery, db: sqlite3.Connection) -> None:
        if event.order_id == 7 and delivery.attempt < 3:
            raise ConnectionError("the ledger is down")  # after the effect's INSERT

    billing.hook = flaky
    worker = billing.worker(engine, claim_after=30.0)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(worker.run)
        await progress.until(lambda: worker.stats().failed == 1 and worker.stats().acked == n - 1)
        clock.advance(31)  # past claim_after: the failed entry is claimed again
        await progress.until(lambda: worker.stats().failed == 2)
        clock.advance(31)
        await progress.until(lambda: worker.stats().acked == n)
        tasks.cancel_scope.cancel()
    assert billing.attempts(7) == [1, 2, 3]
    assert billing.effects() == once(range(n))  # the two failed attempts were rolled back
    stats = worker.stats()
    assert (stats.failed, stats.retried, stats.dead_lettered) == (2, 2, 0)
    assert await engine.pending_count("orders", "billing") == 0
    assert len(await producer.published()) == n


async def test_poison_events_are_dead_lettered_while_the_others_flow(
    progress: Progress, producer: Producer, billing: Consumer
) -> None:
    n = 20
    clock = Clock()
    engine = Engine(progress, clock=clock)
    await producer.place(range(n))
    assert await Relay(producer.outbox, engine).run_once() == n
    garbage = Envelope(new_id(), "orders.placed", 1, datetime.now(UTC), b"{not json")
    await engine.append("orders", [garbage])  # from a broken producer, past any outbox

    async def cursed(event: Placed, delivery: Delivery, db: sqlite3.Connection) -> None:
        if event.order_id == 13:
            raise ValueError("order 13 is cursed")

    billing.hook = cursed
    worker = billing.worker(engine, claim_after=30.0, max_deliveries=3)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(worker.run)
        await progress.until(
            lambda: (
                (worker.stats().acked, worker.stats().failed, worker.stats().dead_lettered)
                == (n - 1, 1, 1)
            )
        )
        for attempt in (2, 3):
            clock.advance(31)
            await progress.until(lambda: worker.stats().failed == attempt)  # noqa: B023
        await progress.until(lambda: worker.stats().dead_lettered == 2)
        tasks.cancel_scope.cancel()

    rows = await producer.published()
    poison_id = next(r.envelope.id for r in rows if r.envelope.payload == b'{"order_id":13}')
    undecodable, poison = await engine.dead_letters("orders")
    assert (undecodable.envelope, undecodable.attempts, undecodable.group) == (
        garbage,
        1,
        "billing",
    )
    assert undecodable.reason.startswith("cannot be decoded: DecodeError: ")
    assert (poison.envelope.id, poison.attempts, poison.group) == (poison_id, 3, "billing")
    assert poison.reason.startswith("failed 3 times: ")
    assert poison.reason.endswith("raised ValueError: order 13 is cursed")
    assert billing.effects() == once(k for k in range(n) if k != 13)  # 13's rolled back 3 times
    assert await engine.pending_count("orders", "billing") == 0
    assert len(rows) == n


class RelayKilled(Exception):
    """The relay's process dies: nothing it does afterwards reaches the database."""


class DyingStore:
    """The outbox as seen by a relay killed right after its first append, before its mark.

    It neither marks nor releases the rows, as a SIGKILLed process would not:
    they stay claimed until the lease expires.
    """

    def __init__(self, store: SqliteOutbox) -> None:
        self.store = store

    async def claim(self, relay_id: str, batch: int, lease: float) -> list[OutboxRow]:
        return await self.store.claim(relay_id, batch, lease)

    async def mark_published(self, relay_id: str, seqs: Sequence[int]) -> int:
        raise RelayKilled

    async def release(self, relay_id: str, seqs: Sequence[int]) -> None:
        pass

    async def prune(self, older_than: datetime) -> int:
        return 0


async def appended_twice(progress: Progress, producer: Producer, n: int) -> Engine:
    """``n`` events appended by a relay killed before its mark, then again by another."""
    await producer.place(range(n))
    engine = Engine(progress)
    dying = Relay(DyingStore(producer.outbox), engine, relay_id="relay-1", lease=30.0)
    with pytest.raises(RelayKilled):
        await dying.run_once()
    assert len(engine.entries("orders")) == n
    successor = Relay(producer.outbox, engine, relay_id="relay-2", lease=30.0)
    assert await successor.run_once() == 0  # relay-1's lease still holds the rows
    producer.clock.advance(31)
    assert await successor.run_once() == n
    rows = await producer.published()
    ids = [row.envelope.id for row in rows]
    assert [e.id for _, e in engine.entries("orders")] == ids + ids  # the duplicates
    return engine


async def test_a_relay_killed_between_append_and_mark_duplicates_and_the_inbox_absorbs_it(
    progress: Progress, producer: Producer, billing: Consumer
) -> None:
    n = 10
    engine = await appended_twice(progress, producer, n)
    worker = billing.worker(engine)
    await run_until(progress, lambda: worker.stats().acked == 2 * n, worker.run)
    assert billing.effects() == once(range(n))
    assert len(billing.deliveries) == n  # the second copies were skipped before the handler
    assert billing.inbox is not None
    assert len(await billing.inbox.applied()) == n
    assert await engine.pending_count("orders", "billing") == 0


async def test_without_the_inbox_the_relays_duplicate_is_applied_twice(
    tmp_path: Path, progress: Progress, producer: Producer
) -> None:
    n = 10
    engine = await appended_twice(progress, producer, n)
    bare = Consumer(tmp_path / "bare.db", inbox=False)
    try:
        worker = bare.worker(engine)
        await run_until(progress, lambda: worker.stats().acked == 2 * n, worker.run)
        assert bare.effects() == dict.fromkeys(range(n), 2)  # why the inbox exists
        assert await engine.pending_count("orders", "billing") == 0
    finally:
        bare.close()


@pytest.mark.parametrize("successor", ["same-consumer", "another-consumer"])
async def test_a_stopped_worker_finishes_its_handlers_in_flight_and_leaves_the_rest_pending(
    progress: Progress, producer: Producer, billing: Consumer, successor: str
) -> None:
    n = 10
    clock = Clock()
    engine = Engine(progress, clock=clock)
    await producer.place(range(n))
    assert await Relay(producer.outbox, engine).run_once() == n
    release = anyio.Event()
    started: list[int] = []

    async def slow(event: Placed, delivery: Delivery, db: sqlite3.Connection) -> None:
        started.append(event.order_id)
        progress.tell()
        await release.wait()

    billing.hook = slow
    first = billing.worker(engine, max_in_flight=3, grace=10.0)
    stop = anyio.CancelScope()

    async def run_first() -> None:
        with stop:
            await first.run()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(run_first)
        await progress.until(lambda: len(started) == 1)
        await anyio.wait_all_tasks_blocked()  # the reader waits: all handler tasks are busy
        # Three in flight: one in its handler, two waiting for the inbox's write lock.
        assert (first.stats().in_flight, len(started)) == (3, 1)
        stop.cancel()
        await anyio.wait_all_tasks_blocked()  # the worker is stopping, waiting for them
        release.set()
    stats = first.stats()
    assert (stats.acked, stats.in_flight, stats.failed) == (3, 0, 0)
    assert sorted(billing.effects()) == sorted(started)
    assert len(started) == 3
    assert await engine.pending_count("orders", "billing") == n - 3  # read, never started

    if successor == "same-consumer":  # a restart: its own pending entries first
        second = billing.worker(engine)
    else:  # another replica takes them over once they are idle for claim_after
        second = billing.worker(engine, consumer="billing-2", claim_after=30.0)
        clock.advance(31)
    await run_until(progress, lambda: second.stats().acked == n - 3, second.run)
    assert second.stats().claimed == (0 if successor == "same-consumer" else n - 3)
    assert billing.effects() == once(range(n))
    assert sorted(started) == list(range(n))  # no handler ran twice
    assert await engine.pending_count("orders", "billing") == 0
    assert len(await producer.published()) == n


async def test_an_event_written_by_a_handler_is_caused_by_the_one_it_handles(
    progress: Progress, producer: Producer, billing: Consumer
) -> None:
    engine = Engine(progress)
    await producer.place([0])
    with correlation("request-42"):
        await producer.place([1])
    assert await Relay(producer.outbox, engine).run_once() == 2
    invoices = Outbox(progress, billing.path, clock=time.time)
    with closing(sqlite3.connect(billing.path)) as setup:
        invoices.create(setup)

    async def invoice(event: Placed, delivery: Delivery, db: sqlite3.Connection) -> None:
        invoices.put(db, Invoiced(event.order_id), stream="invoices")  # the inbox's transaction

    billing.hook = invoice
    worker = billing.worker(engine)
    # The billing service's relay runs after the worker: alongside, its reads on the database
    # the inbox commits to can fail that commit (see the xfail test below).
    await run_until(progress, lambda: worker.stats().acked == 2, worker.run)
    assert await Relay(invoices, engine).run_once() == 2
    assert [row.published_at is not None for row in await invoices.rows()] == [True, True]

    placed = {row.envelope.payload: row.envelope for row in await producer.published()}
    assert placed[b'{"order_id":0}'].headers == {"correlation_id": placed[b'{"order_id":0}'].id}
    assert placed[b'{"order_id":1}'].headers == {"correlation_id": "request-42"}
    for _, follow_up in engine.entries("invoices"):
        cause = placed[follow_up.payload]  # Invoiced(n) and Placed(n) encode alike
        assert follow_up.type == "billing.invoiced"
        assert follow_up.headers == {
            "correlation_id": cause.headers["correlation_id"],
            "causation_id": cause.id,
        }
    assert len(engine.entries("invoices")) == 2
    assert billing.effects() == once([0, 1])
    assert await engine.pending_count("orders", "billing") == 0


async def test_a_short_read_on_the_consumer_database_delays_the_inbox_commit_without_failing_it(
    progress: Progress, producer: Producer, billing: Consumer
) -> None:
    engine = Engine(progress)
    await producer.place([0])
    assert await Relay(producer.outbox, engine).run_once() == 1
    reader = connect(billing.path)  # a relay's claim, a report: a read lock for a moment
    probe = connect(billing.path, timeout=0)

    def commit_waits() -> bool:
        """Whether a COMMIT holds SQLite's PENDING lock, waiting for the readers to finish."""
        try:
            probe.execute("SELECT count(*) FROM effects").fetchone()
        except sqlite3.OperationalError:  # "database is locked": new readers are kept out
            return True
        return False

    async def read_meanwhile(event: Placed, delivery: Delivery, db: sqlite3.Connection) -> None:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM effects").fetchone()

    billing.hook = read_meanwhile
    worker = billing.worker(engine)
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker.run)
            await progress.until(lambda: commit_waits() or worker.stats().failed == 1)
            reader.rollback()  # the read ends: a waiting commit goes through
            await progress.until(lambda: worker.stats().acked + worker.stats().failed == 1)
            tasks.cancel_scope.cancel()
    finally:
        reader.close()
        probe.close()
    assert worker.stats().failed == 0
    assert billing.effects() == once([0])


# -- group_commit=True: handlers run back to back share a transaction ---------------------


@pytest.fixture
def young(monkeypatch: pytest.MonkeyPatch) -> None:
    """A group stays open for the next handler however slow the machine (not 5 ms)."""
    monkeypatch.setattr(_sqlite_inbox, "_YOUNG", 60.0)


def grouped(path: Path, *, foreign_keys: bool = False) -> tuple[Consumer, list[str]]:
    """A consumer whose inbox groups commits, and the statements its connections ran.

    With ``foreign_keys``, a ``postings`` row for an account that does not exist is a
    write that fails only at COMMIT (a deferred foreign key).
    """
    statements: list[str] = []

    def traced() -> sqlite3.Connection:
        connection = connect(path)
        if foreign_keys:
            connection.execute("PRAGMA foreign_keys = ON")
        connection.set_trace_callback(statements.append)
        return connection

    consumer = Consumer(path, group_commit=True, connector=traced)
    if foreign_keys:
        with closing(sqlite3.connect(path)) as setup:
            setup.executescript(
                """
                CREATE TABLE accounts (id INTEGER PRIMARY KEY);
                CREATE TABLE postings (
                    account INTEGER REFERENCES accounts (id) DEFERRABLE INITIALLY DEFERRED
                );
                """
            )
    return consumer, statements


class Acks(Engine):
    """Checks at each ack that the effects of what it acks are committed, seen from outside."""

    def __init__(self, progress: Progress, path: Path, **options: Any) -> None:
        super().__init__(progress, **options)
        self.path = path
        self.acked = 0
        self.committed_at_ack: list[bool] = []

    async def ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
        with closing(sqlite3.connect(self.path)) as db:
            (committed,) = db.execute("SELECT count(*) FROM effects").fetchone()
        self.acked += len(entry_ids)
        self.committed_at_ack.append(committed >= self.acked)
        await super().ack(stream, group, entry_ids)


async def test_with_group_commit_handlers_share_commits_made_before_their_acks(
    progress: Progress, producer: Producer, tmp_path: Path, young: None
) -> None:
    n = 60
    billing, statements = grouped(tmp_path / "billing.db")
    engine = Acks(progress, billing.path)
    await producer.place(range(n))
    assert await Relay(producer.outbox, engine).run_once() == n
    worker = billing.worker(engine)
    try:
        await run_until(progress, lambda: worker.stats().acked == n, worker.run)
    finally:
        billing.close()
    assert billing.effects() == once(range(n))
    assert engine.committed_at_ack and all(engine.committed_at_ack)
    commits = statements.count("COMMIT")
    assert 1 <= commits <= n // 4  # one per group, not one per handler
    assert statements.count("SAVEPOINT mediator_inbox") == n - commits  # the first of each opens it
    assert await engine.pending_count("orders", "billing") == 0


async def test_with_group_commit_an_open_group_commits_once_the_worker_runs_out_of_entries(
    progress: Progress, producer: Producer, tmp_path: Path
) -> None:
    """An ack on its way (a slow broker) does not keep the write lock held by a group."""
    n = 8
    billing, _ = grouped(tmp_path / "billing.db")
    release = anyio.Event()

    class SlowAcks(Engine):
        async def ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
            await release.wait()
            await super().ack(stream, group, entry_ids)

    engine = SlowAcks(progress)
    await producer.place([0])
    assert await Relay(producer.outbox, engine).run_once() == 1

    def committed() -> int:
        with closing(sqlite3.connect(billing.path)) as db:
            (count,) = db.execute("SELECT count(*) FROM effects").fetchone()
        return int(count)

    worker = billing.worker(engine)
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker.run)
            await progress.until(lambda: len(billing.deliveries) == 1)  # its ack now waits
            await producer.place(range(1, n))
            assert await Relay(producer.outbox, engine).run_once() == n - 1
            await progress.until(lambda: committed() == n)  # before any ack returned
            with closing(connect(billing.path, timeout=0)) as other:
                other.execute("BEGIN IMMEDIATE")  # the write lock is free
                other.rollback()
            assert worker.stats().acked == 0
            release.set()
            await progress.until(lambda: worker.stats().acked == n)
            tasks.cancel_scope.cancel()
    finally:
        billing.close()
    assert billing.effects() == once(range(n))


async def test_with_group_commit_a_group_that_cannot_commit_comes_back_and_commits_alone(
    progress: Progress,
    producer: Producer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    young: None,
) -> None:
    """One handler's writes that fail at COMMIT (a deferred foreign key) fail only it."""
    n = 10
    billing, statements = grouped(tmp_path / "billing.db", foreign_keys=True)

    async def post(event: Placed, delivery: Delivery, db: sqlite3.Connection) -> None:
        if event.order_id == 3:  # no such account: only the commit finds out
            db.execute("INSERT INTO postings VALUES (404)")

    billing.hook = post
    clock = Clock()
    engine = Engine(progress, clock=clock)
    await producer.place(range(n))
    assert await Relay(producer.outbox, engine).run_once() == n
    worker = billing.worker(engine, claim_after=30.0, max_deliveries=3)
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker.run)
            await progress.until(lambda: worker.stats().failed == n)
            assert worker.stats().acked == 0  # one group, which did not commit: all pending
            assert billing.effects() == {}
            clock.advance(31)  # they come back, and commit alone: order 3 fails on its own
            await progress.until(lambda: worker.stats().acked == n - 1)
            assert worker.stats().failed == n + 1
            clock.advance(31)  # its last attempt
            await progress.until(lambda: worker.stats().dead_lettered == 1)
            await progress.until(lambda: worker.stats().acked == n - 1)
            tasks.cancel_scope.cancel()
    finally:
        billing.close()
    assert billing.effects() == once(set(range(n)) - {3})
    (dead,) = await engine.dead_letters("orders")
    assert codec.decode(dead.envelope.type, dead.envelope.version, dead.envelope.payload) == (
        Placed(3)
    )
    assert "FOREIGN KEY constraint failed" in dead.reason
    (lost,) = [r for r in caplog.records if "did not commit" in r.getMessage()]
    assert "IntegrityError: FOREIGN KEY constraint failed" in lost.getMessage()
    assert await engine.pending_count("orders", "billing") == 0
    assert statements.count("COMMIT") == 1 + (n - 1) + 2  # the group, each alone, 3 twice


async def test_with_group_commit_a_handler_ending_the_group_sends_the_others_back(
    progress: Progress, producer: Producer, tmp_path: Path
) -> None:
    n = 6
    billing, _ = grouped(tmp_path / "billing.db")

    async def commit_itself(event: Placed, delivery: Delivery, db: sqlite3.Connection) -> None:
        if event.order_id == 2 and delivery.attempt == 1:
            db.commit()  # a mistake: it commits the handlers before it with its own writes

    billing.hook = commit_itself
    clock = Clock()
    engine = Engine(progress, clock=clock)
    await producer.place(range(n))
    assert await Relay(producer.outbox, engine).run_once() == n
    worker = billing.worker(engine, claim_after=30.0)
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker.run)
            await progress.until(lambda: worker.stats().failed >= 1)
            clock.advance(31)  # what did not commit, or was not acked, comes back
            await progress.until(lambda: worker.stats().acked == n)
            tasks.cancel_scope.cancel()
    finally:
        billing.close()
    assert billing.effects() == once(range(n))  # applied once, skipped when they came back
    assert await engine.pending_count("orders", "billing") == 0


async def test_with_group_commit_the_handlers_that_succeeded_beside_a_failed_one_commit_at_once(
    progress: Progress, producer: Producer, tmp_path: Path
) -> None:
    billing, _ = grouped(tmp_path / "billing.db")
    audited: list[tuple[int, int]] = []

    @billing.bus.register
    async def audit(event: Placed, db: sqlite3.Connection, delivery: Delivery) -> None:
        audited.append((event.order_id, delivery.attempt))
        if delivery.attempt == 1:
            raise ConnectionError("the audit log is down")

    clock = Clock()
    engine = Engine(progress, clock=clock)
    await producer.place([0])
    assert await Relay(producer.outbox, engine).run_once() == 1
    worker = billing.worker(engine, claim_after=30.0)
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker.run)
            await progress.until(lambda: worker.stats().failed == 1)
            assert billing.effects() == once([0])  # committed, though the entry is not acked
            with closing(connect(billing.path, timeout=0)) as other:
                other.execute("BEGIN IMMEDIATE")  # and the write lock is free
                other.rollback()
            clock.advance(31)
            await progress.until(lambda: worker.stats().acked == 1)
            tasks.cancel_scope.cancel()
    finally:
        billing.close()
    assert billing.effects() == once([0])  # apply was skipped the second time
    assert audited == [(0, 1), (0, 2)]


async def test_with_group_commit_a_worker_stopped_while_the_broker_hangs_leaves_no_lock_held(
    progress: Progress, producer: Producer, tmp_path: Path
) -> None:
    """A delivery cut short at the stop leaves its inbox handler's group: it is committed
    before the acks, which a broker that does not answer keeps waiting."""
    billing, _ = grouped(tmp_path / "billing.db")
    acking = anyio.Event()

    class Down(Engine):
        async def ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
            acking.set()
            await anyio.sleep_forever()

    started = anyio.Event()
    assert billing.inbox is not None
    billing.bus = LocalEventBus()  # the inbox for one handler only

    @billing.bus.register
    async def gate(event: Placed) -> None:  # order 1 opens a group after 0's ack went out
        if event.order_id == 1:
            await acking.wait()

    @billing.bus.register(modifiers=[idempotent(billing.inbox, connection="db")])
    async def apply(event: Placed, db: sqlite3.Connection, delivery: Delivery) -> None:
        db.execute("INSERT INTO effects VALUES (?, ?, ?)", ("billing", event.order_id, "-"))

    @billing.bus.register
    async def slow(event: Placed) -> None:  # after `apply`, whose group it leaves open
        if event.order_id == 1:
            started.set()
            await anyio.sleep_forever()

    engine = Down(progress)
    await producer.place([0, 1])
    assert await Relay(producer.outbox, engine).run_once() == 2
    worker = billing.worker(engine, max_in_flight=2, grace=0.2)
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker.run)
            with anyio.fail_after(10):
                await started.wait()
            tasks.cancel_scope.cancel()
        with closing(connect(billing.path, timeout=0)) as other:
            other.execute("BEGIN IMMEDIATE")  # free: nothing left open by the stopped worker
            other.rollback()
        assert billing.effects() == once([0, 1])  # committed, so skipped when they come back
    finally:
        billing.close()


async def test_with_group_commit_a_worker_run_again_never_acks_an_entry_whose_group_failed(
    progress: Progress, producer: Producer, tmp_path: Path
) -> None:
    """Stopped while the broker hangs on another stream's ack: what it still has to ack
    keeps its commits into the next run, so an entry whose group failed stays pending."""
    billing, _ = grouped(tmp_path / "billing.db", foreign_keys=True)
    hanging = anyio.Event()
    orders_acked: list[str] = []
    attempts: list[int] = []

    class Hangs(Engine):
        hang = True

        async def ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
            if self.hang and stream == "pings":
                hanging.set()
                await anyio.sleep_forever()
            if stream == "orders":
                orders_acked.extend(entry_ids)
            await super().ack(stream, group, entry_ids)

    assert billing.inbox is not None
    billing.bus = LocalEventBus()

    @billing.bus.register
    async def ping(event: Invoiced) -> None:  # no inbox: nothing to commit
        pass

    @billing.bus.register(modifiers=[idempotent(billing.inbox, connection="db")])
    async def apply(event: Placed, db: sqlite3.Connection, delivery: Delivery) -> None:
        attempts.append(delivery.attempt)
        db.execute("INSERT INTO effects VALUES (?, ?, ?)", ("billing", event.order_id, "-"))
        if delivery.attempt == 1:
            db.execute("INSERT INTO postings VALUES (404)")  # fails at COMMIT
        elif delivery.attempt == 2:
            raise ConnectionError("still down")

    clock = Clock()
    engine = Hangs(progress, clock=clock)
    for stream, event in (("pings", Invoiced(0)), ("orders", Placed(7))):
        encoded = codec.encode(event)
        envelope = Envelope(
            new_id(), encoded.type, encoded.version, datetime.now(UTC), encoded.payload
        )
        await engine.append(stream, [envelope])

    def worker() -> Worker:
        return Worker(
            engine,
            codec,
            billing.bus,
            streams=["pings", "orders"],
            group="billing",
            consumer="billing-1",
            block=0.05,
            grace=0.0,
            claim_after=30.0,
        )

    first = worker()
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(first.run)
            with anyio.fail_after(10):
                await hanging.wait()
            tasks.cancel_scope.cancel()
        engine.hang = False
        async with anyio.create_task_group() as tasks:  # the same worker, run again
            tasks.start_soon(first.run)
            await progress.until(lambda: attempts == [1, 2] and not first.stats().in_flight)
            assert orders_acked == []  # nor was attempt 1, whose group did not commit
            assert await engine.pending_count("orders", "billing") == 1
            clock.advance(31)
            await progress.until(lambda: len(orders_acked) == 1)  # attempt 3
            tasks.cancel_scope.cancel()
    finally:
        billing.close()
    assert billing.effects() == once([7])
    assert await engine.pending_count("orders", "billing") == 0
