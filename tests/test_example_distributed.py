"""example/distributed: the README's two-process demo, run as the README says, on a real Redis.

asyncio only where async: the Redis engine is.  The two processes are started
as a user would start them; the test reads what they print.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import redis
from redis_server import RedisServer, redis_server  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent

CONFIRMATIONS = [
    "to ada: order #1 confirmed: 1 widget",
    "to grace: order #2 confirmed: 2 widget",
    "to ada: order #3 confirmed: 3 widget",
    "to ada: order #1 cancelled",
]


def environment(server: RedisServer, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MEDIATOR_REDIS_URL": server.url,
        "NOTIFICATIONS_DB": str(tmp_path / "notifications.db"),
    }


def test_the_orders_service_and_the_notifications_worker(
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    redis.Redis.from_url(redis_server.url).flushall()
    env = environment(redis_server, tmp_path)
    produced = subprocess.run(
        [sys.executable, "-m", "example.distributed.producer", "3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert produced.returncode == 0, produced.stderr
    assert produced.stdout.splitlines()[1:] == [
        "ada placed order #1 (its event is in the outbox)",
        "grace placed order #2 (its event is in the outbox)",
        "ada placed order #3 (its event is in the outbox)",
        "ada cancelled order #1",
        "relay: every event is in Redis (4 events)",
    ]

    def run_worker() -> list[str]:
        target = "example.distributed.notifications:worker"
        worker = subprocess.Popen(
            [sys.executable, "-m", "mediator", "worker", target, "--progress", "0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert worker.stdout is not None
        lines = []
        try:
            while len([line for line in lines if line.startswith("to ")]) < want:
                line = worker.stdout.readline()
                assert line, worker.stderr.read() if worker.stderr else ""
                lines.append(line.rstrip("\n"))
        finally:
            worker.send_signal(signal.SIGINT)
            out, err = worker.communicate(timeout=30)
        assert worker.returncode == 0, err
        return lines + out.splitlines()

    want = len(CONFIRMATIONS)
    lines = run_worker()
    assert lines[0].startswith("mediator worker: engine RedisEngine(")
    assert [line for line in lines if line.startswith("to ")] == CONFIRMATIONS
    assert lines[-1].startswith("mediator worker: stopped (SIGINT")

    with contextlib.closing(sqlite3.connect(tmp_path / "notifications.db")) as connection:
        rows = connection.execute("SELECT recipient, text FROM notifications").fetchall()
    assert [f"to {who}: {text}" for who, text in rows] == CONFIRMATIONS


def test_the_readme_gives_these_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "$ python -m example.distributed.producer 3\n" in text
    assert "$ python -m mediator worker example.distributed.notifications:worker\n" in text
    for line in CONFIRMATIONS:
        assert f"\n{line}\n" in text
