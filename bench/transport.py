"""The transport's throughput on a real Redis: events per second, beside what else one could run.

    python -m bench.transport                       # starts its own redis-server
    python -m bench.transport --url redis://host:6379/0
    python -m bench.transport --quick --markdown
    python -m bench.transport --install-faststream  # first: FastStream into bench/.peers/

On loopback, in one process each (the Python process is the limit, not Redis):

- **ours**: outbox (SQLite, prefilled) -> `Relay` -> `RedisEngine` -> `Worker`
  -> a no-op handler, one handler call per event, at least once (acks after
  the handler), with and without the inbox (a transaction per handler, or
  ``group_commit=True``); and its two halves alone;
- **bare ceiling**: a minimal redis-py loop, XADD in pipelines of 100 and
  XREADGROUP COUNT 100 with one XACK per batch, running side by side;
- **FastStream**: its Redis Streams subscriber in a consumer group, acking
  each message (and its batch subscriber, whose handler gets a list), in its
  own process from its own folder.

Each figure is the median of five runs (one with ``--quick``), each run measuring
every contender once, in turn.  The
benchmark measures and reports; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as `python bench/transport.py`
    sys.path.insert(0, str(ROOT))

from bench.pipeline import Placed, noop_bus, types  # noqa: E402
from mediator.transports import (  # noqa: E402
    Envelope,
    JsonCodec,
    Relay,
    SqliteInbox,
    SqliteOutbox,
    Worker,
)
from mediator.transports.redis import RedisEngine  # noqa: E402

PEER = ROOT / "bench" / ".peers" / "faststream"
FASTSTREAM = "faststream[redis]==0.7.8"
codec = JsonCodec(types)


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


@contextlib.contextmanager
def _redis_server() -> Iterator[str]:
    """A redis-server of our own on a free port (the tests' helper), without persistence."""
    sys.path.insert(0, str(ROOT / "tests"))
    from redis_server import RedisServer  # the tests' server: free port, its own folder

    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder))
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


class _Counting(RedisEngine):
    """The Redis engine, which says when ``n`` entries have been acked."""

    def __init__(self, url: str, n: int) -> None:
        super().__init__(url, retention=None)
        self.left = self.unsent = n
        self.done = asyncio.Event()
        self.sent = asyncio.Event()

    async def append(self, stream: str, envelopes: Sequence[Envelope]) -> list[str]:
        ids = await super().append(stream, envelopes)
        self.unsent -= len(envelopes)
        if self.unsent <= 0:
            self.sent.set()
        return ids

    async def ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
        await super().ack(stream, group, entry_ids)
        self.left -= len(entry_ids)
        if self.left <= 0:
            self.done.set()


class _Run:
    """Fresh stream and databases for one measured run."""

    def __init__(self, url: str, folder: Path, n: int) -> None:
        self.n = n
        self.stream = f"bench-{uuid.uuid4().hex[:8]}"
        place = Path(tempfile.mkdtemp(dir=folder))
        producer, consumer = place / "producer.db", place / "consumer.db"
        self.outbox = SqliteOutbox(codec, connect=lambda: _connect(producer))
        self.inbox = SqliteInbox(connect=lambda: _connect(consumer))
        self.grouped = SqliteInbox(connect=lambda: _connect(consumer), group_commit=True)
        with contextlib.closing(_connect(consumer)) as connection:
            self.inbox.create(connection)
        with contextlib.closing(_connect(producer)) as connection:
            self.outbox.create(connection)
            for first in range(0, n, 100):
                with connection:
                    events = [Placed(i, "acme", 9.5) for i in range(first, min(n, first + 100))]
                    self.outbox.put(connection, *events, stream=self.stream)
        self.engine = _Counting(url, n)

    def worker(self, *, inbox: bool, group_commit: bool = False) -> Worker:
        bus = noop_bus((self.grouped if group_commit else self.inbox) if inbox else None)
        return Worker(
            self.engine, codec, bus, streams=self.stream, group="bench", batch=100, block=0.05
        )

    async def acked_all(self, worker: Worker) -> None:
        await self.engine.done.wait()

    async def close(self) -> None:
        await self.engine.client.delete(self.stream)
        await self.engine.aclose()
        self.inbox.close()
        self.grouped.close()
        self.outbox.close()


async def _pipeline(run: _Run, *, inbox: bool, group_commit: bool = False) -> float:
    worker = run.worker(inbox=inbox, group_commit=group_commit)
    relay = Relay(run.outbox, run.engine, batch=500, poll=0.01)
    started = time.perf_counter()
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(worker.run())]
    await run.acked_all(worker)
    elapsed = time.perf_counter() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return elapsed


async def _relay_alone(run: _Run) -> float:
    relay = Relay(run.outbox, run.engine, batch=500)
    started = time.perf_counter()
    task = asyncio.create_task(relay.run())
    await run.engine.sent.wait()
    elapsed = time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return elapsed


async def _worker_alone(run: _Run) -> float:
    while await Relay(run.outbox, run.engine, batch=500).run_once():
        pass
    worker = run.worker(inbox=False)
    started = time.perf_counter()
    task = asyncio.create_task(worker.run())
    await run.acked_all(worker)
    elapsed = time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return elapsed


async def _bare(url: str, n: int) -> float:
    """The ceiling: the least a Python process can do for at-least-once delivery."""
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    stream = f"bench-bare-{uuid.uuid4().hex[:8]}"
    await client.xgroup_create(stream, "bench", id="0", mkstream=True)
    payload = json.dumps({"order_id": 1, "customer": "acme", "total": 9.5}).encode()

    async def produce() -> None:
        for first in range(0, n, 100):
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(first, min(n, first + 100)):
                    pipe.xadd(stream, {"payload": payload})
                await pipe.execute()

    async def consume() -> None:
        seen = 0
        while seen < n:
            reply = await client.xreadgroup("bench", "c1", {stream: ">"}, count=100, block=50)
            for _, entries in reply or []:
                for _entry_id, fields in entries:
                    json.loads(fields[b"payload"])  # the least a consumer does: decode
                await client.xack(stream, "bench", *[entry_id for entry_id, _ in entries])
                seen += len(entries)

    started = time.perf_counter()
    await asyncio.gather(produce(), consume())
    elapsed = time.perf_counter() - started
    await client.delete(stream)
    await client.aclose()
    return n / elapsed


def _faststream(url: str, n: int, mode: str) -> float | str:
    if not PEER.exists():
        return "not installed (python -m bench.transport --install-faststream)"
    script = ROOT / "bench" / "faststream_redis.py"
    done = subprocess.run(
        [sys.executable, "-S", str(script), str(PEER), url, str(n), mode],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode:
        return f"failed: {done.stderr.strip()[-300:]}"
    rate: float = json.loads(done.stdout.strip().splitlines()[-1])["events_per_second"]
    return rate


async def _ours(url: str, n: int, measure: Callable[[_Run], Awaitable[float]]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        run = _Run(url, Path(folder), n)
        try:
            return n / await measure(run)
        finally:
            await run.close()


async def measure(url: str, *, quick: bool) -> dict[str, Any]:
    """Each run measures every contender once, in turn, so that a machine whose speed
    drifts (a shared VM) weighs on all of them alike; the medians are reported."""
    n, runs = (3_000, 1) if quick else (20_000, 5)
    ours: dict[str, Callable[[_Run], Awaitable[float]]] = {
        "ours, without the inbox": lambda run: _pipeline(run, inbox=False),
        "ours, with the inbox": lambda run: _pipeline(run, inbox=True),
        "ours, with the inbox, group_commit=True": lambda run: _pipeline(
            run, inbox=True, group_commit=True
        ),
        "ours: relay alone (outbox -> Redis)": _relay_alone,
        "ours: worker alone (Redis -> no-op)": _worker_alone,
    }
    peers = {"per message": "message", "batch subscriber": "batch"}
    rates: dict[str, list[float | str]] = {}
    for _ in range(runs):
        rates.setdefault("bare redis-py loop (ceiling)", []).append(await _bare(url, n))
        for name, contender in ours.items():
            rates.setdefault(name, []).append(await _ours(url, n, contender))
        for name, mode in peers.items():
            rates.setdefault(f"FastStream 0.7.8, {name}", []).append(_faststream(url, n, mode))
    report: dict[str, Any] = {"events": n, "runs": runs}
    for name, values in rates.items():
        numbers = [v for v in values if isinstance(v, float)]
        report[name] = statistics.median(numbers) if numbers else values[0]
    return report


def _table(report: dict[str, Any], markdown: bool) -> str:
    ceiling = report["bare redis-py loop (ceiling)"]
    rows = []
    for name, value in report.items():
        if name in ("events", "runs"):
            continue
        if isinstance(value, float):
            rows.append((name, f"{value:,.0f}", f"{value / ceiling:.0%}"))
        else:
            rows.append((name, str(value), ""))
    if markdown:
        lines = ["| pipeline | events/s | of the ceiling |", "|---|---:|---:|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    else:
        width = max(len(a) for a, _, _ in rows)
        lines = [f"{a:<{width}}  {b:>10}  {c:>5}" for a, b, c in rows]
    lines.append(f"\n{report['events']:,} events per run, median of {report['runs']} run(s).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transport", description=__doc__)
    parser.add_argument("--url", help="an existing Redis (default: start one)")
    parser.add_argument("--quick", action="store_true", help="one short run of each")
    parser.add_argument("--markdown", action="store_true", help="a Markdown table")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--install-faststream", action="store_true", help=f"pip-install {FASTSTREAM} first"
    )
    args = parser.parse_args(argv)
    if args.install_faststream and not PEER.exists():
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "--target", str(PEER), FASTSTREAM], check=True)
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(_redis_server())
        report = asyncio.run(measure(url, quick=args.quick))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_table(report, args.markdown), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
