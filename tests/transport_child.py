"""The processes of the Redis failure tests: a consumer (a worker with the inbox) and a relay.

Run by tests/test_transport_redis_failures.py as ``python tests/transport_child.py ROLE ...``.
Each prints one line per step the test waits for (``ready``, ``handled <n>``,
``appended``), flushed, so that the test synchronises on the process's output.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import anyio

from mediator import LocalEventBus
from mediator.transports import (
    Delivery,
    Envelope,
    EventTypes,
    JsonCodec,
    Relay,
    SqliteInbox,
    SqliteOutbox,
    Worker,
    idempotent,
)
from mediator.transports.redis import RedisEngine

types = EventTypes()


@types.register(name="test.placed", version=1)
@dataclass(frozen=True)
class Placed:
    n: int
    poison: bool = False


codec = JsonCodec(types)


def say(line: str) -> None:
    print(line, flush=True)


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, check_same_thread=False, timeout=10)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def prepare_consumer_db(path: Path, *, group_commit: bool = False) -> SqliteInbox:
    inbox = SqliteInbox(connect=lambda: connect(path), group_commit=group_commit)
    with contextlib.closing(connect(path)) as connection, connection:
        inbox.create(connection)
        connection.execute(
            "CREATE TABLE IF NOT EXISTS effects (n INTEGER, event_id TEXT, consumer TEXT)"
        )
    return inbox


def consumer_bus(inbox: SqliteInbox, *, delay: float, name: str) -> LocalEventBus:
    bus = LocalEventBus(modifiers=[idempotent(inbox, connection="db")])

    @bus.register
    async def apply(event: Placed, db: sqlite3.Connection, delivery: Delivery) -> None:
        if event.poison:
            raise ValueError(f"event {event.n} is poison")
        if delay:
            await anyio.sleep(delay)  # the handler's own work
        db.execute(
            "INSERT INTO effects VALUES (?, ?, ?)", (event.n, delivery.event_id, name)
        )
        say(f"handled {event.n}")

    return bus


async def consume(args: argparse.Namespace) -> None:
    inbox = prepare_consumer_db(Path(args.db), group_commit=args.group_commit)
    engine = RedisEngine(args.url, timeout=1.0)
    bus = consumer_bus(inbox, delay=args.delay, name=args.consumer)
    worker = Worker(
        engine,
        codec,
        bus,
        streams=args.stream,
        group=args.group,
        consumer=args.consumer,
        batch=args.batch,
        block=0.1,
        claim_after=args.claim_after,
        max_deliveries=3,
        max_in_flight=args.in_flight,
        grace=args.grace,
    )
    async with anyio.create_task_group() as group:

        async def on_signal() -> None:
            import signal

            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    say("stopping")
                    group.cancel_scope.cancel()
                    return

        group.start_soon(on_signal)
        group.start_soon(worker.run)
        say("ready")
    stats = worker.stats()
    say(f"stopped acked={stats.acked} delivered={stats.delivered}")
    await engine.aclose()


class _StallingEngine(RedisEngine):
    """Appends, says so, then never returns: the relay dies before it marks the rows."""

    async def append(self, stream: str, envelopes: list[Envelope]) -> list[str]:  # type: ignore[override]
        ids = await super().append(stream, envelopes)
        say(f"appended {len(ids)}")
        await anyio.sleep_forever()
        return ids


async def relay(args: argparse.Namespace) -> None:
    outbox = SqliteOutbox(codec, connect=lambda: connect(Path(args.db)))
    engine_type = _StallingEngine if args.stall else RedisEngine
    engine = engine_type(args.url, timeout=1.0)
    relayed = Relay(outbox, engine, batch=args.batch, lease=args.lease, poll=0.05)
    say("ready")
    await relayed.run()


def main() -> None:
    parser = argparse.ArgumentParser()
    roles = parser.add_subparsers(dest="role", required=True)
    consumer = roles.add_parser("consume")
    consumer.add_argument("--url", required=True)
    consumer.add_argument("--db", required=True)
    consumer.add_argument("--stream", default="orders")
    consumer.add_argument("--group", default="billing")
    consumer.add_argument("--consumer", required=True)
    consumer.add_argument("--claim-after", type=float, default=0.5)
    consumer.add_argument("--delay", type=float, default=0.0)
    consumer.add_argument("--batch", type=int, default=50)
    consumer.add_argument("--in-flight", type=int, default=8)
    consumer.add_argument("--grace", type=float, default=10.0)
    consumer.add_argument("--group-commit", action="store_true")
    relayer = roles.add_parser("relay")
    relayer.add_argument("--url", required=True)
    relayer.add_argument("--db", required=True)
    relayer.add_argument("--lease", type=float, default=30.0)
    relayer.add_argument("--batch", type=int, default=100)
    relayer.add_argument("--stall", action="store_true")
    args = parser.parse_args()
    run = consume if args.role == "consume" else relay
    try:
        anyio.run(run, args)
    except KeyboardInterrupt:  # pragma: no cover - SIGINT before the receiver is open
        sys.exit(130)


if __name__ == "__main__":
    main()
