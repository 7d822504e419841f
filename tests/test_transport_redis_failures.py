"""No event lost, none applied twice: the pipeline on a real redis-server under failures.

Each scenario sends several hundred events through outbox -> relay -> Redis
-> worker -> a handler with the inbox, breaks something on the way (a
consumer or relay process SIGKILLed, Redis itself SIGKILLed and restarted, a
poison event, a SIGTERM with handlers in flight), and checks that every
event's effect is in the consumer's database exactly once and that nothing
is left pending.

asyncio only: the Redis engine is (redis-py).  The processes are
tests/transport_child.py; the test follows what they print.  Waiting for
Redis or for another process to reach a state is a poll with a deadline
(`settled`): there is no event to await across processes.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from redis_server import RedisServer, own_redis_server, redis_server  # noqa: F401 (fixtures)
from transport_child import Placed, codec, connect, consumer_bus, prepare_consumer_db

from mediator.transports import Relay, SqliteOutbox, Worker
from mediator.transports.redis import RedisEngine

CHILD = Path(__file__).with_name("transport_child.py")
N = 300
#: Seconds any one wait may take before the test fails.
DEADLINE = 30


@pytest.fixture
def anyio_backend() -> Any:
    """The Redis engine is asyncio-only (redis-py)."""
    return "asyncio", {"debug": False}


class Child:
    """A process of tests/transport_child.py, and the lines it printed."""

    def __init__(self, *args: str) -> None:
        # Its log goes to a file, never a pipe that could fill up; closed by close().
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), *args],
            stdout=subprocess.PIPE,
            stderr=self.errors,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def log(self) -> str:
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace")

    def close(self) -> None:
        self.pump.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.errors.close()

    async def wait_for(self, wanted: Callable[[str], bool]) -> str:
        """The first line (from now) for which ``wanted`` is true."""
        with anyio.fail_after(DEADLINE):
            while True:
                line = await anyio.to_thread.run_sync(self.lines.get)
                if line is None:
                    code = self.process.wait()
                    raise AssertionError(f"the process ended ({code}): {self.log()}")
                self.seen.append(line)
                if wanted(line):
                    return line

    async def handled(self, count: int) -> None:
        total = sum(line.startswith("handled ") for line in self.seen)
        while total < count:
            await self.wait_for(lambda line: line.startswith("handled "))
            total += 1

    def numbers(self) -> list[int]:
        return [int(line.split()[1]) for line in self.seen if line.startswith("handled ")]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> int:
        """SIGTERM, then its exit status once it ended (its last lines are read)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self.pump.join(timeout=10)
        while (line := self.lines.get_nowait() if not self.lines.empty() else None) is not None:
            self.seen.append(line)
        return code


@pytest.fixture
async def children() -> AsyncIterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        if child.process.poll() is None:
            child.kill()
        child.close()


def produce(path: Path, count: int, *, poison: Callable[[int], bool] = lambda n: False) -> None:
    """``count`` events written to the outbox, ten per business transaction."""
    outbox = SqliteOutbox(codec, connect=lambda: connect(path))
    with contextlib.closing(connect(path)) as connection, connection:
        outbox.create(connection)
    connection = connect(path)
    for first in range(0, count, 10):
        with connection:
            events = [Placed(n, poison(n)) for n in range(first, min(count, first + 10))]
            outbox.put(connection, *events, stream="orders", key=str(first))
    connection.close()


async def relay_all(path: Path, engine: RedisEngine) -> None:
    relay = Relay(SqliteOutbox(codec, connect=lambda: connect(path)), engine, batch=100)
    while await relay.run_once():
        pass


def effects(path: Path) -> list[int]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return sorted(n for (n,) in connection.execute("SELECT n FROM effects"))


async def settled(check: Callable[[], Any]) -> None:
    """Poll ``check()`` (an async predicate on Redis or a database) until it holds.

    What is polled is another process's state (Redis's lists, a database that
    other processes write): nothing in this process could set an event for it.
    """
    with anyio.fail_after(DEADLINE):
        while not await check():  # noqa: ASYNC110
            await anyio.sleep(0.02)


async def unpublished(path: Path) -> int:
    rows = await SqliteOutbox(codec, connect=lambda: connect(path)).rows()
    return sum(row.published_at is None for row in rows)


def consume_args(server: RedisServer, db: Path, name: str, *extra: str) -> tuple[str, ...]:
    return ("consume", "--url", server.url, "--db", str(db), "--consumer", name, *extra)


@pytest.mark.parametrize("commits", ["own-commit", "group-commit"])
async def test_a_consumer_killed_mid_batch_is_taken_over_by_another(
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
    children: list[Child],
    commits: str,
) -> None:
    grouping = ("--group-commit",) if commits == "group-commit" else ()
    engine = RedisEngine(redis_server.url)
    await engine.client.flushall()
    producer, consumer = tmp_path / "shop.db", tmp_path / "billing.db"
    produce(producer, N)
    await relay_all(producer, engine)
    prepare_consumer_db(consumer)

    first = Child(
        *consume_args(redis_server, consumer, "billing-1", "--delay", "0.002", *grouping)
    )
    children.append(first)
    await first.handled(60)
    first.kill()  # SIGKILL, mid-batch: its entries stay pending in Redis
    assert await engine.pending_count("orders", "billing") > 0

    second = Child(
        *consume_args(redis_server, consumer, "billing-2", "--claim-after", "0.3", *grouping)
    )
    children.append(second)

    async def done() -> bool:
        return len(effects(consumer)) >= N and not await engine.pending_count(
            "orders", "billing"
        )

    await settled(done)
    assert second.stop() == 0
    assert effects(consumer) == list(range(N))  # each once: the inbox absorbed the redeliveries
    assert await engine.pending_count("orders", "billing") == 0
    assert await engine.lag("orders", "billing") == 0
    await engine.aclose()


@pytest.mark.parametrize("commits", ["own-commit", "group-commit"])
async def test_redis_killed_and_restarted_while_the_relay_and_worker_run(
    own_redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    commits: str,
) -> None:
    producer, consumer = tmp_path / "shop.db", tmp_path / "billing.db"
    produce(producer, N)
    inbox = prepare_consumer_db(consumer, group_commit=commits == "group-commit")
    engine = RedisEngine(own_redis_server.url, timeout=0.5, retries=1)
    halfway = anyio.Event()
    count = 0
    bus = consumer_bus(inbox, delay=0.0, name="billing-1")

    @bus.register
    async def counted(event: Placed) -> None:
        nonlocal count
        count += 1
        if count == N // 3:
            halfway.set()

    relay = Relay(SqliteOutbox(codec, connect=lambda: connect(producer)), engine, batch=20)
    worker = Worker(
        engine, codec, bus, streams="orders", group="billing", block=0.1, claim_after=0.3
    )

    async def done() -> bool:
        try:
            return (
                len(effects(consumer)) >= N
                and not await unpublished(producer)
                and not await engine.pending_count("orders", "billing")
            )
        except ConnectionError:
            return False

    with caplog.at_level(logging.WARNING, logger="mediator.transports"):
        async with anyio.create_task_group() as group:
            group.start_soon(relay.run)
            group.start_soon(worker.run)
            await halfway.wait()
            await anyio.to_thread.run_sync(own_redis_server.kill)
            await anyio.sleep(0.3)  # Redis stays down a while: the relay and worker back off
            await anyio.to_thread.run_sync(own_redis_server.start)
            await settled(done)
            group.cancel_scope.cancel()
    assert effects(consumer) == list(range(N))
    assert "retrying in" in caplog.text or "could not" in caplog.text.lower()
    await engine.aclose()
    inbox.close()


async def test_a_poison_event_is_dead_lettered_while_the_others_are_handled(
    redis_server: RedisServer, tmp_path: Path  # noqa: F811
) -> None:
    engine = RedisEngine(redis_server.url)
    await engine.client.flushall()
    producer, consumer = tmp_path / "shop.db", tmp_path / "billing.db"
    produce(producer, N, poison=lambda n: n % 100 == 7)
    await relay_all(producer, engine)
    inbox = prepare_consumer_db(consumer)
    bus = consumer_bus(inbox, delay=0.0, name="billing-1")
    worker = Worker(
        engine,
        codec,
        bus,
        streams="orders",
        group="billing",
        block=0.05,
        claim_after=0.1,
        max_deliveries=3,
    )

    async def done() -> bool:
        return len(await engine.dead_letters("orders")) == 3 and not await engine.pending_count(
            "orders", "billing"
        )

    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await settled(done)
        group.cancel_scope.cancel()
    assert effects(consumer) == [n for n in range(N) if n % 100 != 7]
    letters = await engine.dead_letters("orders")
    assert sorted(codec.decode(d.envelope.type, 1, d.envelope.payload).n for d in letters) == [  # type: ignore[attr-defined]
        7,
        107,
        207,
    ]
    assert {(d.group, d.attempts) for d in letters} == {("billing", 3)}
    assert all("ValueError: event" in d.reason and "is poison" in d.reason for d in letters)
    await engine.aclose()
    inbox.close()


async def test_a_relay_killed_between_append_and_mark_duplicates_that_the_inbox_absorbs(
    redis_server: RedisServer, tmp_path: Path, children: list[Child]  # noqa: F811
) -> None:
    engine = RedisEngine(redis_server.url)
    await engine.client.flushall()
    producer, consumer = tmp_path / "shop.db", tmp_path / "billing.db"
    produce(producer, N)
    stalled = Child("relay", "--url", redis_server.url, "--db", str(producer), "--lease", "0.5",
                    "--stall")  # fmt: skip
    children.append(stalled)
    await stalled.wait_for(lambda line: line.startswith("appended"))
    stalled.kill()  # appended 100 rows, never marked them
    assert await engine.client.xlen("orders") == 100
    assert await unpublished(producer) == N

    inbox = prepare_consumer_db(consumer)
    bus = consumer_bus(inbox, delay=0.0, name="billing-1")
    worker = Worker(engine, codec, bus, streams="orders", group="billing", block=0.05)
    relay = Relay(SqliteOutbox(codec, connect=lambda: connect(producer)), engine, poll=0.05)

    async def done() -> bool:
        return (
            not await unpublished(producer)
            and len(await inbox.applied()) >= N
            and not await engine.pending_count("orders", "billing")
            and await engine.lag("orders", "billing") == 0
        )

    async with anyio.create_task_group() as group:
        group.start_soon(relay.run)  # takes the dead relay's rows once their lease expired
        group.start_soon(worker.run)
        await settled(done)
        group.cancel_scope.cancel()
    assert await engine.client.xlen("orders") == N + 100  # the first 100 went twice...
    assert effects(consumer) == list(range(N))  # ...and were applied once
    await engine.aclose()
    inbox.close()


async def test_sigterm_lets_handlers_in_flight_finish_and_the_rest_stays_pending(
    redis_server: RedisServer, tmp_path: Path, children: list[Child]  # noqa: F811
) -> None:
    engine = RedisEngine(redis_server.url)
    await engine.client.flushall()
    producer, consumer = tmp_path / "shop.db", tmp_path / "billing.db"
    produce(producer, N)
    await relay_all(producer, engine)
    prepare_consumer_db(consumer)

    args = consume_args(redis_server, consumer, "billing-1", "--delay", "0.05", "--batch", "20")
    first = Child(*args)
    children.append(first)
    await first.handled(30)
    assert first.stop() == 0  # SIGTERM: stops reading, finishes what it holds, acks it
    summary = first.seen[-1]
    handled = first.numbers()
    assert summary == f"stopped acked={len(handled)} delivered={len(handled)}"
    assert len(effects(consumer)) == len(handled) < N
    # What it had read and not started is still pending, for the same name at restart:
    # at most one batch (20) and the handler tasks' buffer (8, --in-flight).
    assert await engine.pending_count("orders", "billing") <= 20 + 8

    second = Child(*args[:-4], "--batch", "100")  # the same consumer name, no delay
    children.append(second)

    async def done() -> bool:
        return len(effects(consumer)) >= N and not await engine.pending_count(
            "orders", "billing"
        )

    await settled(done)
    assert second.stop() == 0
    assert effects(consumer) == list(range(N))
    await engine.aclose()


async def test_a_group_added_after_the_events_were_published_receives_all_of_them(
    redis_server: RedisServer, tmp_path: Path  # noqa: F811
) -> None:
    engine = RedisEngine(redis_server.url)
    await engine.client.flushall()
    producer = tmp_path / "shop.db"
    produce(producer, N)
    await relay_all(producer, engine)  # no group exists yet
    inbox = prepare_consumer_db(tmp_path / "audit.db")
    bus = consumer_bus(inbox, delay=0.0, name="audit-1")
    worker = Worker(engine, codec, bus, streams="orders", group="audit", block=0.05)

    async def done() -> bool:
        return len(effects(tmp_path / "audit.db")) >= N and not await engine.pending_count(
            "orders", "audit"
        )

    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await settled(done)
        group.cancel_scope.cancel()
    assert effects(tmp_path / "audit.db") == list(range(N))
    await engine.aclose()
    inbox.close()
