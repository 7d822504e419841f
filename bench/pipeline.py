"""The transport pipeline's throughput in one process, with the in-memory engine.

Outbox -> relay -> `MemoryEngine` -> worker -> a no-op handler, in events
per second, with and without the inbox, and its stages on their own, so that
a real engine's own cost (the Redis engine) can be told apart later: what
the in-memory engine costs here is close to nothing, so these figures are
what the library itself costs per event.

SQLite runs in WAL mode with ``synchronous=NORMAL`` (a commit does not wait
for the disk; the journal does, at checkpoints), which is what a service
that writes events at a rate should use.  Each figure is the median of
three runs (one with ``--quick``).
"""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from mediator import LocalEventBus
from mediator.transports import (
    EventTypes,
    JsonCodec,
    MemoryEngine,
    Relay,
    SqliteInbox,
    SqliteOutbox,
    Worker,
    idempotent,
)

types = EventTypes()


@types.register(name="bench.placed")
@dataclass(frozen=True)
class Placed:
    order_id: int
    customer: str
    total: float


_STREAM = "orders"
_GROUP = "bench"


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


class _Setup:
    """The producer's database with ``n`` events in its outbox, and the consumer's inbox.

    Two databases, as two services have: the relay's writes to the outbox
    and the inbox's transactions then do not wait for one another.
    """

    def __init__(self, folder: Path, n: int) -> None:
        self.n = n
        self.codec = JsonCodec(types)
        producer, consumer = folder / "producer.db", folder / "consumer.db"
        with contextlib.closing(_connect(consumer)) as connection:
            self.inbox = SqliteInbox(connect=lambda: _connect(consumer))
            self.grouped = SqliteInbox(connect=lambda: _connect(consumer), group_commit=True)
            self.inbox.create(connection)
        connection = _connect(producer)
        self.outbox = SqliteOutbox(self.codec, connect=lambda: _connect(producer))
        self.outbox.create(connection)
        started = time.perf_counter()
        for first in range(0, n, 100):
            with connection:
                events = [Placed(i, "acme", 9.5) for i in range(first, min(n, first + 100))]
                self.outbox.put(connection, *events, stream=_STREAM)
        self.write_seconds = time.perf_counter() - started
        connection.close()


def noop_bus(inbox: SqliteInbox | None) -> LocalEventBus:
    """One no-op handler; with an inbox, in its shared transaction (what is measured)."""
    if inbox is None:
        bus = LocalEventBus()

        @bus.register
        async def noop(event: Placed) -> None:
            return None

        return bus
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])

    @bus.register
    async def noop_in_transaction(event: Placed, db: sqlite3.Connection) -> None:
        return None

    return bus


class _Counting(MemoryEngine):
    """The in-memory engine, which says when ``n`` entries have been acked."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.left = n
        self.done = anyio.Event()

    async def ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
        await super().ack(stream, group, entry_ids)
        self.left -= len(entry_ids)
        if self.left <= 0:
            self.done.set()


async def _pipeline(setup: _Setup, *, inbox: bool, group_commit: bool = False) -> float:
    """Seconds from the relay's start until the worker acked every event."""
    engine = _Counting(setup.n)
    bus = noop_bus((setup.grouped if group_commit else setup.inbox) if inbox else None)

    relay = Relay(setup.outbox, engine, batch=500, poll=0.01)
    worker = Worker(engine, setup.codec, bus, streams=_STREAM, group=_GROUP, block=0.01, batch=500)
    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        group.start_soon(relay.run)
        group.start_soon(worker.run)
        await engine.done.wait()
        group.cancel_scope.cancel()
    return time.perf_counter() - started


async def _relay_only(setup: _Setup) -> float:
    engine = MemoryEngine()
    relay = Relay(setup.outbox, engine, batch=500)
    started = time.perf_counter()
    while await relay.run_once():
        pass
    return time.perf_counter() - started


async def _worker_only(setup: _Setup) -> float:
    engine = _Counting(setup.n)
    rows = await setup.outbox.rows()
    for first in range(0, len(rows), 500):
        await engine.append(_STREAM, [row.envelope for row in rows[first : first + 500]])
    bus = noop_bus(None)
    worker = Worker(engine, setup.codec, bus, streams=_STREAM, group=_GROUP, block=0.01, batch=500)
    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await engine.done.wait()
        group.cancel_scope.cancel()
    return time.perf_counter() - started


async def _median(
    n: int, run: Callable[[_Setup], Awaitable[float]], folder: Path, runs: int
) -> tuple[float, float]:
    """Median events per second over ``runs`` runs, and the outbox's write rate."""
    rates, writes = [], []
    for _ in range(runs):
        place = Path(tempfile.mkdtemp(dir=folder))
        setup = _Setup(place, n)
        writes.append(n / setup.write_seconds)
        rates.append(n / await run(setup))
        setup.inbox.close()
        setup.grouped.close()
    return statistics.median(rates), statistics.median(writes)


async def measure(quick: bool) -> dict[str, str]:
    """The report lines: events per second."""
    n, runs = (1_000, 1) if quick else (20_000, 3)
    report: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        plain, writes = await _median(n, lambda s: _pipeline(s, inbox=False), folder, runs)
        inboxed, _ = await _median(n, lambda s: _pipeline(s, inbox=True), folder, runs)
        grouped, _ = await _median(
            n, lambda s: _pipeline(s, inbox=True, group_commit=True), folder, runs
        )
        relayed, _ = await _median(n, _relay_only, folder, runs)
        worked, _ = await _median(n, _worker_only, folder, runs)
    report[f"pipeline outbox -> relay -> memory -> worker, {n:,} events (events/s)"] = (
        f"{plain:,.0f} without the inbox, {inboxed:,.0f} with it "
        f"({inboxed / plain:.0%} of the rate), {grouped:,.0f} with group_commit=True "
        f"({grouped / plain:.0%})"
    )
    report["its stages alone (events/s)"] = (
        f"outbox writes {writes:,.0f} (100 per transaction), relay {relayed:,.0f}, "
        f"worker {worked:,.0f}"
    )
    return report
