"""The outbox (SqliteOutbox), its EventAggregate publisher, and the relay."""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import anyio
import pytest

from mediator import EventAggregate
from mediator.transports._codec_protocol import Encoded
from mediator.transports._envelope import Envelope
from mediator.transports._outbox import OutboxError, OutboxStore
from mediator.transports._relay import Relay
from mediator.transports._sqlite import SqliteOutbox


@dataclass(frozen=True)
class Placed:
    order_id: int


@dataclass(frozen=True)
class Shipped:
    order_id: int


class Unregistered:
    pass


class RefusedError(TypeError):
    pass


class FakeCodec:
    content_type = "application/x-test"
    names: ClassVar[dict[type, str]] = {Placed: "orders.placed", Shipped: "orders.shipped"}

    def encode(self, event: object) -> Encoded:
        name = self.names.get(type(event))
        if name is None:
            raise RefusedError(f"{type(event).__name__} is not registered")
        return Encoded(name, 1, json.dumps(asdict(event)).encode())  # type: ignore[call-overload]

    def decode(self, type: str, version: int, payload: bytes) -> object:
        classes = {name: cls for cls, name in self.names.items()}
        return classes[type](**json.loads(payload))


class FakeEngine:
    """Appends to a list; fails ``failures`` times first; ``hook`` runs after each append."""

    def __init__(self, failures: int = 0) -> None:
        self.entries: list[tuple[str, Envelope]] = []
        self.failures = failures
        self.calls = 0
        self.after_append: anyio.Event | None = None
        self.block: anyio.Event | None = None

    async def append(self, stream: str, envelopes: Sequence[Envelope]) -> list[str]:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("engine down")
        start = len(self.entries)
        self.entries += [(stream, e) for e in envelopes]
        if self.after_append is not None:
            self.after_append.set()
        if self.block is not None:
            await self.block.wait()
        return [str(n) for n in range(start, len(self.entries))]

    def decoded(self) -> list[tuple[str, object]]:
        codec = FakeCodec()
        return [(s, codec.decode(e.type, e.version, e.payload)) for s, e in self.entries]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Outbox(SqliteOutbox):
    """Sets ``marked`` once ``expect`` rows were marked published: what run() tests wait for."""

    expect = 0
    total = 0
    _marked: anyio.Event | None = None

    @property
    def marked(self) -> anyio.Event:
        if self._marked is None:
            self._marked = anyio.Event()
        return self._marked

    pruned: anyio.Event | None = None

    async def prune(self, older_than: datetime) -> int:
        count = await super().prune(older_than)
        if self.pruned is not None:
            self.pruned.set()
        return count

    async def mark_published(self, relay_id: str, seqs: Sequence[int]) -> int:
        count = await super().mark_published(relay_id, seqs)
        self.total += count
        if self.expect and self.total >= self.expect:
            self.marked.set()
        return count


#: The connections `make` opened, closed after each test (Python 3.13 warns about the rest).
_opened: list[sqlite3.Connection] = []


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "app.db"
    while _opened:
        _opened.pop().close()


def make(db: Path, clock: Clock | None = None) -> tuple[Outbox, sqlite3.Connection]:
    outbox = Outbox(FakeCodec(), database=db, clock=clock or Clock())
    connection = sqlite3.connect(db)
    _opened.append(connection)
    outbox.create(connection)
    connection.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY)")
    return outbox, connection


def relay(outbox: SqliteOutbox, engine: object, **options: object) -> Relay:
    return Relay(outbox, engine, **options)  # type: ignore[arg-type]


# -- the write side -----------------------------------------------------------------------


async def test_rows_commit_and_roll_back_with_the_business_transaction(db: Path) -> None:
    outbox, connection = make(db)
    with connection:
        connection.execute("INSERT INTO orders VALUES (1)")
        envelopes = outbox.put(
            connection, Placed(1), Shipped(1), stream="orders", key="1", headers={"a": "b"}
        )
    with pytest.raises(ZeroDivisionError), connection:
        connection.execute("INSERT INTO orders VALUES (2)")
        outbox.put(connection, Placed(2), stream="orders")
        1 / 0  # noqa: B018
    assert connection.execute("SELECT id FROM orders").fetchall() == [(1,)]
    rows = await outbox.rows()
    assert [row.envelope for row in rows] == envelopes
    first = rows[0]
    assert (first.stream, first.envelope.type, first.envelope.key) == (
        "orders",
        "orders.placed",
        "1",
    )
    assert first.envelope.headers == {"correlation_id": first.envelope.id, "a": "b"}
    assert first.envelope.content_type == "application/x-test"
    assert first.envelope.occurred_at.tzinfo is not None
    assert (first.claimed_by, first.claimed_until, first.published_at) == (None, None, None)
    assert isinstance(outbox, OutboxStore)


async def test_a_refused_event_writes_nothing(db: Path) -> None:
    outbox, connection = make(db)
    with pytest.raises(RefusedError, match="Unregistered is not registered"), connection:
        outbox.put(connection, Placed(1), Unregistered(), stream="orders")
    assert await outbox.rows() == []


async def test_put_refuses_an_autocommit_connection(db: Path) -> None:
    outbox, connection = make(db)
    connection.isolation_level = None
    with pytest.raises(OutboxError) as caught:
        outbox.put(connection, Placed(1), stream="orders")
    error = caught.value
    assert (error.where, error.problem, error.option) == (
        "SqliteOutbox.put()",
        "autocommit",
        "connection",
    )
    assert str(error) == (
        f"SqliteOutbox.put(): connection={connection!r} is in autocommit mode outside a "
        "transaction, so the outbox rows would commit without the business rows.\n"
        "Tip: Open a transaction first (connection.execute('BEGIN')), or use a connection in "
        "sqlite3's default mode (not isolation_level=None, not autocommit=True) and a "
        "`with connection:` block."
    )
    connection.execute("BEGIN")
    outbox.put(connection, Placed(1), stream="orders")
    connection.execute("COMMIT")
    assert len(await outbox.rows()) == 1


def test_bad_table_name() -> None:
    with pytest.raises(OutboxError) as caught:
        SqliteOutbox(FakeCodec(), table="x; DROP TABLE y")
    assert (caught.value.problem, caught.value.option) == ("table", "table")
    assert "is not a plain SQL name" in str(caught.value)


def test_relay_side_without_a_database() -> None:
    # Refused at set-up, not on the relay's first claim.
    with pytest.raises(OutboxError) as caught:
        SqliteOutbox(FakeCodec())
    error = caught.value
    assert (error.where, error.problem, error.option, error.value) == (
        "SqliteOutbox()",
        "no-database",
        "database",
        None,
    )
    assert str(error) == (
        "SqliteOutbox(): database=None is missing: the relay's side opens its own connections.\n"
        "Tip: Pass database='app.db' (the path the application writes to) or "
        "connect=lambda: sqlite3.connect('app.db', check_same_thread=False)."
    )


async def test_connect_factory(db: Path) -> None:
    _, connection = make(db)
    opened: list[sqlite3.Connection] = []

    def connect() -> sqlite3.Connection:
        opened.append(sqlite3.connect(db, check_same_thread=False))
        return opened[-1]

    outbox = SqliteOutbox(FakeCodec(), connect=connect)
    with connection:
        outbox.put(connection, Placed(1), Placed(2), stream="orders")
    (first,) = await outbox.claim("r", 1, 10.0)
    assert await outbox.mark_published("r", [first.seq]) == 1
    assert len(await outbox.claim("r", 10, 10.0)) == 1
    assert len(opened) == 1  # kept between calls
    outbox.close()
    with pytest.raises(sqlite3.ProgrammingError):
        opened[0].execute("SELECT 1")  # closed
    assert len(await outbox.rows()) == 2
    assert len(opened) == 2  # a call after close() opens another
    outbox.close()


async def test_a_connection_bound_to_its_thread_is_refused_on_first_use(db: Path) -> None:
    make(db)[1].close()
    opened: list[sqlite3.Connection] = []

    def connect() -> sqlite3.Connection:
        opened.append(sqlite3.connect(db))  # check_same_thread left on
        return opened[-1]

    outbox = SqliteOutbox(FakeCodec(), connect=connect)
    with pytest.raises(OutboxError) as caught:
        await outbox.claim("r", 10, 1.0)
    error = caught.value
    assert (error.where, error.problem, error.option, error.value) == (
        "SqliteOutbox()",
        "thread",
        "connect",
        connect,
    )
    message = str(error)
    assert message.startswith("SqliteOutbox(): connect=<function ")
    assert message.endswith(
        " returned a connection bound to the thread that made it, but the relay's side runs "
        "its statements in worker threads.\n"
        "Tip: Connect with sqlite3.connect(..., check_same_thread=False)."
    )
    with pytest.raises(sqlite3.ProgrammingError):  # closed by the outbox: nothing leaks
        opened[0].execute("SELECT 1")


# -- claims -------------------------------------------------------------------------------


async def test_claim_order_batching_and_leases(db: Path) -> None:
    clock = Clock()
    outbox, connection = make(db, clock)
    with connection:
        outbox.put(connection, *(Placed(n) for n in range(5)), stream="orders")
    a = await outbox.claim("a", 2, 10.0)
    b = await outbox.claim("b", 2, 10.0)
    c = await outbox.claim("c", 2, 10.0)
    assert [r.seq for r in a] == [1, 2]
    assert [r.seq for r in b] == [3, 4]
    assert [r.seq for r in c] == [5]
    assert a[0].claimed_by == "a"
    assert a[0].claimed_until == datetime.fromtimestamp(clock.now + 10.0, UTC)
    assert await outbox.claim("d", 10, 10.0) == []
    clock.now += 10.0  # a crashed: its lease expires, d takes its rows over
    assert [r.seq for r in await outbox.claim("d", 10, 10.0)] == [1, 2, 3, 4, 5]


async def test_mark_only_what_this_relay_still_holds(db: Path) -> None:
    clock = Clock()
    outbox, connection = make(db, clock)
    with connection:
        outbox.put(connection, Placed(1), Placed(2), stream="orders")
    await outbox.claim("a", 10, 5.0)
    clock.now += 6.0
    await outbox.claim("b", 1, 5.0)  # takes row 1 from a, whose lease expired
    assert await outbox.mark_published("a", [1, 2]) == 1  # row 2: still a's, expired or not
    assert await outbox.mark_published("b", [1]) == 1
    assert await outbox.mark_published("b", [1]) == 0
    assert await outbox.mark_published("b", []) == 0
    rows = await outbox.rows()
    assert all(r.published_at == datetime.fromtimestamp(clock.now, UTC) for r in rows)
    assert all(r.claimed_by is None for r in rows)
    assert await outbox.claim("c", 10, 5.0) == []


async def test_release(db: Path) -> None:
    outbox, connection = make(db)
    with connection:
        outbox.put(connection, Placed(1), Placed(2), stream="orders")
    await outbox.claim("a", 10, 60.0)
    await outbox.release("b", [1, 2])  # not b's: nothing happens
    assert await outbox.claim("b", 10, 60.0) == []
    await outbox.release("a", [2])
    await outbox.release("a", [])
    assert [r.seq for r in await outbox.claim("b", 10, 60.0)] == [2]


async def test_two_relays_never_claim_one_row(db: Path) -> None:
    outbox, connection = make(db)
    with connection:
        outbox.put(connection, *(Placed(n) for n in range(200)), stream="orders")
    claimed: dict[str, list[int]] = {}

    async def take(relay_id: str) -> None:
        while rows := await outbox.claim(relay_id, 7, 60.0):
            claimed.setdefault(relay_id, []).extend(r.seq for r in rows)

    async with anyio.create_task_group() as tg:
        for name in "abcd":
            tg.start_soon(take, name)
    seqs = [seq for got in claimed.values() for seq in got]
    assert sorted(seqs) == list(range(1, 201))


async def test_prune(db: Path) -> None:
    clock = Clock()
    outbox, connection = make(db, clock)
    with connection:
        outbox.put(connection, Placed(1), Placed(2), Placed(3), stream="orders")
    await outbox.claim("a", 3, 5.0)
    await outbox.mark_published("a", [1])
    clock.now += 100
    await outbox.mark_published("a", [2])
    assert await outbox.prune(datetime.fromtimestamp(clock.now - 50, UTC)) == 1
    assert [r.seq for r in await outbox.rows()] == [2, 3]  # 3 is unpublished: never pruned
    assert await outbox.prune(datetime.fromtimestamp(clock.now + 1, UTC)) == 1
    assert [r.seq for r in await outbox.rows()] == [3]


# -- the EventAggregate publisher -----------------------------------------------------------


async def test_aggregate_commit_writes_in_order_in_the_transaction(db: Path) -> None:
    outbox, connection = make(db)
    aggregate = EventAggregate().use(outbox.publisher(connection, stream="orders", key="7"))
    aggregate.enqueue(Placed(7))
    aggregate.enqueue(Shipped(7), headers={"h": "v"})
    aggregate.enqueue(Placed(8), key="8")
    with connection:
        connection.execute("INSERT INTO orders VALUES (7)")
        await aggregate.commit()
    assert aggregate.staged == ()
    rows = await outbox.rows()
    assert [(r.envelope.type, r.envelope.key) for r in rows] == [
        ("orders.placed", "7"),
        ("orders.shipped", "7"),
        ("orders.placed", "8"),
    ]
    assert rows[1].envelope.headers == {"correlation_id": rows[1].envelope.id, "h": "v"}


async def test_aggregate_commit_rolls_back_with_the_transaction(db: Path) -> None:
    outbox, connection = make(db)
    aggregate = EventAggregate().use(outbox.publisher(connection, stream="orders"))
    aggregate.enqueue(Placed(1))
    with pytest.raises(ZeroDivisionError), connection:
        await aggregate.commit()
        1 / 0  # noqa: B018
    assert await outbox.rows() == []


async def test_a_failed_aggregate_commit_leaves_no_rows_and_keeps_the_transaction(
    db: Path,
) -> None:
    outbox, connection = make(db)
    aggregate = EventAggregate().use(outbox.publisher(connection, stream="orders"))
    aggregate.enqueue(Placed(1))
    aggregate.enqueue(Unregistered())
    with connection:
        connection.execute("INSERT INTO orders VALUES (1)")
        with pytest.raises(RefusedError):
            await aggregate.commit()
        assert len(aggregate.staged) == 2  # all staged again: nothing was published
    assert connection.execute("SELECT id FROM orders").fetchall() == [(1,)]
    assert await outbox.rows() == []


async def test_aggregate_commit_outside_a_transaction_opens_one(db: Path) -> None:
    outbox, connection = make(db)
    aggregate = EventAggregate().use(outbox.publisher(connection, stream="orders"))
    aggregate.enqueue(Placed(1))
    assert not connection.in_transaction
    await aggregate.commit()
    assert connection.in_transaction  # the application commits it
    connection.commit()
    assert len(await outbox.rows()) == 1


async def test_publisher_refuses_unknown_keywords(db: Path) -> None:
    outbox, connection = make(db)
    publisher = outbox.publisher(connection, stream="orders")
    with pytest.raises(OutboxError) as caught:
        await publisher.publish(Placed(1), partition="x")
    error = caught.value
    assert (error.where, error.problem, error.option, error.value) == (
        "SqlitePublisher.publish()",
        "publish-kwargs",
        "partition",
        "x",
    )
    assert "Tip: Pass only key=" in str(error)


# -- the relay ------------------------------------------------------------------------------


async def test_run_once_appends_per_stream_in_order_and_marks(db: Path) -> None:
    outbox, connection = make(db)
    with connection:
        outbox.put(connection, Placed(1), stream="orders")
        outbox.put(connection, Shipped(1), stream="shipping")
        outbox.put(connection, Placed(2), stream="orders")
    engine = FakeEngine()
    r = relay(outbox, engine, batch=2)
    assert await r.run_once() == 2
    assert await r.run_once() == 1
    assert await r.run_once() == 0
    assert engine.decoded() == [
        ("orders", Placed(1)),
        ("shipping", Shipped(1)),
        ("orders", Placed(2)),
    ]
    assert all(row.published_at is not None for row in await outbox.rows())


async def test_engine_down_retries_with_backoff_then_publishes_exactly_once(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox, connection = make(db)
    with connection:
        outbox.put(connection, *(Placed(n) for n in range(5)), stream="orders")
    engine = FakeEngine(failures=3)
    outbox.expect = 5
    delays: list[int] = []

    def backoff(failures: int) -> float:
        delays.append(failures)
        return 0.0

    r = relay(outbox, engine, backoff=backoff, poll=3600.0)
    with caplog.at_level(logging.WARNING, "mediator.transports"):
        async with anyio.create_task_group() as tg:
            tg.start_soon(r.run)
            await outbox.marked.wait()
            tg.cancel_scope.cancel()
    assert delays == [1, 2, 3]
    assert engine.decoded() == [("orders", Placed(n)) for n in range(5)]
    rows = await outbox.rows()
    assert all(row.published_at is not None for row in rows)
    messages = [record.getMessage() for record in caplog.records]
    assert any(
        "could not append 5 event(s) to 'orders' (ConnectionError: engine down)" in m
        and f"{rows[0].envelope.id} (orders.placed)" in m
        and "and 0 more" not in m
        for m in messages
    )
    assert any("failed 3 time(s) in a row" in m for m in messages)


async def test_run_claims_the_next_batch_during_an_append_and_keeps_the_order(db: Path) -> None:
    outbox, connection = make(db)
    with connection:
        outbox.put(connection, *(Placed(n) for n in range(6)), stream="orders")
    engine = FakeEngine()
    engine.block = anyio.Event()  # the first append waits
    outbox.expect = 6
    r = relay(outbox, engine, batch=3, poll=3600.0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(r.run)
        await until_claimed(outbox, 6)  # the second batch, claimed while the first is on its way
        assert len(engine.entries) == 3
        engine.block.set()
        await outbox.marked.wait()
        tg.cancel_scope.cancel()
    assert engine.decoded() == [("orders", Placed(n)) for n in range(6)]


async def test_a_failed_append_also_releases_the_batch_claimed_ahead(db: Path) -> None:
    outbox, connection = make(db)
    with connection:
        outbox.put(connection, *(Placed(n) for n in range(6)), stream="orders")
    backed_off = anyio.Event()

    def backoff(failures: int) -> float:
        backed_off.set()
        return 3600.0

    r = relay(outbox, FakeEngine(failures=1), batch=3, backoff=backoff)
    async with anyio.create_task_group() as tg:
        tg.start_soon(r.run)
        await backed_off.wait()  # after the release
        rows = await outbox.rows()
        tg.cancel_scope.cancel()
    assert [row.claimed_by for row in rows] == [None] * 6  # both batches: any relay, at once
    assert await relay(outbox, FakeEngine(), batch=10).run_once() == 6


async def until_claimed(outbox: SqliteOutbox, count: int) -> None:
    """Wait until ``count`` rows are claimed (checked at each scheduling round)."""
    with anyio.fail_after(10):
        while sum(row.claimed_by is not None for row in await outbox.rows()) < count:
            await anyio.lowlevel.checkpoint()


async def test_a_failed_append_releases_the_rows(db: Path) -> None:
    outbox, connection = make(db)
    with connection:
        outbox.put(connection, *(Placed(n) for n in range(7)), stream="orders")
    r = relay(outbox, FakeEngine(failures=1))
    with pytest.raises(ConnectionError):
        await r.run_once()
    assert all(row.claimed_by is None for row in await outbox.rows())
    other = FakeEngine()
    assert await relay(outbox, other).run_once() == 7  # at once, without waiting for a lease


async def test_a_failed_stream_releases_its_own_rows_not_those_already_marked(db: Path) -> None:
    outbox, connection = make(db)
    with connection:  # interleaved: a1 b1 a2
        outbox.put(connection, Placed(1), stream="a")
        outbox.put(connection, Placed(2), stream="b")
        outbox.put(connection, Placed(3), stream="a")

    class FailsOnB(FakeEngine):
        async def append(self, stream: str, envelopes: Sequence[Envelope]) -> list[str]:
            if stream == "b":
                raise ConnectionError("b is down")
            return await super().append(stream, envelopes)

    with pytest.raises(ConnectionError):
        await relay(outbox, FailsOnB()).run_once()
    rows = {row.envelope.payload: row for row in await outbox.rows()}
    assert [rows[p].published_at is not None for p in sorted(rows)] == [True, False, True]
    assert all(row.claimed_by is None for row in rows.values())  # b's row free at once
    again = FakeEngine()
    assert await relay(outbox, again).run_once() == 1
    assert [stream for stream, _ in again.entries] == ["b"]


async def test_backoff_is_capped(db: Path) -> None:
    outbox, connection = make(db)
    with connection:
        outbox.put(connection, Placed(1), stream="orders")
    engine = FakeEngine(failures=2)
    outbox.expect = 1
    r = relay(outbox, engine, backoff=lambda failures: 1e9, backoff_cap=0.0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(r.run)
        await outbox.marked.wait()  # would wait for ever without the cap
        tg.cancel_scope.cancel()
    assert engine.calls == 3


async def test_cancelled_between_append_and_mark_is_appended_again(db: Path) -> None:
    outbox, connection = make(db)
    with connection:
        outbox.put(connection, Placed(1), Placed(2), stream="orders")
    engine = FakeEngine()
    engine.after_append = anyio.Event()
    engine.block = anyio.Event()  # never set: the relay is stopped while append returns
    r = relay(outbox, engine)
    async with anyio.create_task_group() as tg:
        tg.start_soon(r.run_once)
        await engine.after_append.wait()
        tg.cancel_scope.cancel()
    assert len(engine.entries) == 2
    assert all(row.published_at is None for row in await outbox.rows())
    engine.after_append = engine.block = None
    assert await relay(outbox, engine).run_once() == 2
    first, second = [e.id for _, e in engine.entries[:2]]
    assert [e.id for _, e in engine.entries] == [first, second, first, second]  # duplicates


async def test_a_crashed_relay_rows_are_taken_over_after_the_lease(db: Path) -> None:
    clock = Clock()
    outbox, connection = make(db, clock)
    with connection:
        outbox.put(connection, Placed(1), stream="orders")
    await outbox.claim("crashed", 10, 30.0)  # then it dies: no release, no mark
    engine = FakeEngine()
    r = relay(outbox, engine, lease=30.0)
    assert await r.run_once() == 0
    clock.now += 30.0
    assert await r.run_once() == 1
    assert engine.decoded() == [("orders", Placed(1))]


async def test_a_lease_lost_during_append_is_logged(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    outbox, connection = make(db, clock)
    with connection:
        outbox.put(connection, Placed(1), stream="orders")
    engine = FakeEngine()
    engine.after_append = anyio.Event()
    engine.block = anyio.Event()
    slow = relay(outbox, engine, relay_id="slow", lease=5.0)
    with caplog.at_level(logging.WARNING, "mediator.transports"):
        async with anyio.create_task_group() as tg:
            tg.start_soon(slow.run_once)
            await engine.after_append.wait()
            clock.now += 6.0
            assert [r.seq for r in await outbox.claim("fast", 10, 5.0)] == [1]
            engine.block.set()
    assert any("were claimed by another relay" in r.getMessage() for r in caplog.records)
    assert (await outbox.rows())[0].claimed_by == "fast"


async def test_wake_ends_the_poll_wait(db: Path) -> None:
    outbox, connection = make(db)
    engine = FakeEngine()
    outbox.expect = 1
    r = relay(outbox, engine, poll=3600.0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(r.run)
        with connection:
            outbox.put(connection, Placed(1), stream="orders")
        r.wake()
        await outbox.marked.wait()
        tg.cancel_scope.cancel()
    assert engine.decoded() == [("orders", Placed(1))]


async def test_run_prunes_old_published_rows(db: Path) -> None:
    clock = Clock()
    clock.now = datetime.now(UTC).timestamp() - 3 * 86400  # published three days ago
    outbox, connection = make(db, clock)
    with connection:
        outbox.put(connection, Placed(1), stream="orders")
    engine = FakeEngine()
    assert await relay(outbox, engine).run_once() == 1
    assert await relay(outbox, engine, retention=timedelta(days=4)).prune() == 0
    r = relay(outbox, engine, retention=2 * 86400.0)
    assert await r.prune() == 1
    assert await outbox.rows() == []


async def test_run_prunes_on_start_and_every_prune_every(db: Path) -> None:
    clock = Clock()
    clock.now = datetime.now(UTC).timestamp() - 8 * 86400
    outbox, connection = make(db, clock)
    with connection:
        outbox.put(connection, Placed(1), Placed(2), stream="orders")
    engine = FakeEngine()
    assert await relay(outbox, engine, batch=1).run_once() == 1
    outbox.pruned = anyio.Event()
    r = relay(outbox, engine, poll=0.0, prune_every=3600.0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(r.run)
        await outbox.pruned.wait()
        tg.cancel_scope.cancel()
    # 1 was published 8 days ago: pruned at start; 2 is pruned at the next prune, an hour on
    assert [row.seq for row in await outbox.rows()] == [2]


@pytest.mark.parametrize(
    ("option", "value", "what"),
    [
        ("relay_id", "", "is not a non-empty str"),
        ("relay_id", 7, "is not a non-empty str"),
        ("batch", 0, "is not a whole number (an int) of at least 1"),
        ("batch", True, "is not a whole number (an int) of at least 1"),
        ("batch", "10", "is not a whole number (an int) of at least 1"),
        ("batch", None, "is not a whole number (an int) of at least 1"),
        ("batch", 2.5, "is not a whole number (an int) of at least 1"),
        ("lease", 0, "is not a finite number of seconds above 0"),
        ("lease", None, "is not a finite number of seconds above 0"),
        ("poll", -1.0, "is not a finite number of seconds, 0 or more"),
        ("poll", "1", "is not a finite number of seconds, 0 or more"),
        ("retention", float("nan"), "is not a finite number of seconds or a timedelta, 0 or more"),
        ("prune_every", float("inf"), "is not a finite number of seconds, 0 or more"),
        ("backoff_cap", False, "is not a finite number of seconds, 0 or more"),
        ("backoff", 0.5, "is not callable: a function of the failures in a row, returning seconds"),
    ],
)
def test_relay_options(db: Path, option: str, value: object, what: str) -> None:
    outbox = SqliteOutbox(FakeCodec(), database=db)
    with pytest.raises(OutboxError) as caught:
        relay(outbox, object(), **{option: value})
    error = caught.value
    assert (error.where, error.problem, error.option) == ("Relay()", "option", option)
    assert error.value is value  # nan included
    assert str(error).splitlines()[0] == f"Relay(): {option}={value!r} {what}."


def test_relay_option_message() -> None:
    error = OutboxError("Relay()", "option", option="batch", value="10")
    assert str(error) == (
        "Relay(): batch='10' is not a whole number (an int) of at least 1.\n"
        "Tip: Pass counts as ints, seconds as finite numbers and backoff as a function, "
        "such as batch=100, lease=30.0, poll=0.5, backoff=lambda failures: 1.0."
    )


def test_relay_id_default_is_unique(db: Path) -> None:
    outbox = SqliteOutbox(FakeCodec(), database=db)
    a, b = relay(outbox, object()), relay(outbox, object())
    assert a.relay_id != b.relay_id
    assert "relay_id=" in repr(a)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sqlite3's autocommit= is Python 3.12+")
async def test_put_refuses_a_python_312_autocommit_connection(db: Path) -> None:
    outbox = SqliteOutbox(FakeCodec(), database=db)
    connection = sqlite3.connect(db, autocommit=True)  # type: ignore[call-arg,unused-ignore]
    outbox.create(connection)
    with pytest.raises(OutboxError) as caught:
        outbox.put(connection, Placed(1), stream="orders")
    error = caught.value
    assert (error.where, error.problem, error.option, error.value) == (
        "SqliteOutbox.put()",
        "autocommit",
        "connection",
        connection,
    )
    connection.execute("BEGIN")  # in a transaction it is fine
    outbox.put(connection, Placed(1), stream="orders")
    connection.execute("COMMIT")
    connection.close()
    assert len(await outbox.rows()) == 1


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sqlite3's autocommit= is Python 3.12+")
@pytest.mark.parametrize("autocommit", [False, True])
async def test_relay_side_on_python_312_autocommit_connections(db: Path, autocommit: bool) -> None:
    outbox, connection = make(db)
    with connection:
        outbox.put(connection, Placed(1), stream="orders")
    store = SqliteOutbox(
        FakeCodec(),
        connect=lambda: sqlite3.connect(db, autocommit=autocommit),  # type: ignore[call-arg,unused-ignore]
    )
    engine = FakeEngine()
    assert await relay(store, engine).run_once() == 1
    assert [row.published_at is not None for row in await store.rows()] == [True]
