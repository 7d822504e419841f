"""``python -m mediator worker``: a Worker run until SIGINT or SIGTERM, then drained.

The signal tests run the real command in a subprocess on the targets of
tests/worker_targets.py (a MemoryEngine of the child process, filled with
three events) and read its stdout line by line, with a timeout: the lines
are the synchronisation, never a sleep.  Targets that cannot be loaded, the
lines' formatting and the command line itself are tested in this process.
"""

from __future__ import annotations

import argparse
import io
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mediator._cli import main, progress_seconds
from mediator.transports import MemoryEngine, WorkerStats
from mediator.transports._command import engine_label, progress_line

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

ROOT = Path(__file__).resolve().parent.parent
WAIT = 10.0  # seconds a line may take before the test fails (a slow machine, not a sleep)

START = (
    "mediator worker: engine MemoryEngine, stream orders, group billing, consumer test-1 "
    "({backend}); Ctrl-C to stop"
)
HANDLED = {"handled order 1", "handled order 2", "handled order 3"}


class Running:
    """``python -m mediator worker ARGS`` in a child process; its stdout read as it comes."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mediator", "worker", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.errors: list[str] = []
        self.readers = [
            threading.Thread(target=self._pump, daemon=True),
            threading.Thread(target=self._drain_stderr, daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.wait()
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        self.errors.extend(self.process.stderr)

    def until(self, wanted: str | Callable[[str], bool]) -> str:
        """The next line that is ``wanted`` (or satisfies it); fails on a timeout or the end."""
        matches = wanted if callable(wanted) else wanted.__eq__
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                self.process.kill()
                raise AssertionError(
                    f"no {wanted!r} within {WAIT} s; stdout: {self.seen}"
                ) from None
            if line is None:
                raise AssertionError(f"no {wanted!r}; stdout: {self.seen}; stderr: {self.stderr}")
            self.seen.append(line)
            if matches(line):
                return line

    def handled_all(self) -> None:
        left = set(HANDLED)
        while left:
            left.discard(self.until(lambda line: line in left))

    def stop(self, number: int) -> int:
        self.process.send_signal(number)
        return self.wait()

    def wait(self) -> int:
        """The exit status, once the process and the reading of its output ended."""
        try:
            status = self.process.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"still running after {WAIT} s; stdout: {self.seen}") from None
        for reader in self.readers:
            reader.join(WAIT)
        return status

    def rest(self) -> list[str]:
        """The lines after those read, to the end (the process has exited)."""
        lines: list[str] = []
        while (line := self.lines.get(timeout=WAIT)) is not None:
            lines.append(line)
        return lines

    @property
    def stderr(self) -> str:
        return "".join(self.errors)


@pytest.fixture
def start() -> Iterator[Callable[..., Running]]:
    """Starts the command; what is still running at the end of the test is killed."""
    started: list[Running] = []

    def start(*args: str) -> Running:
        started.append(Running(*args))
        return started[-1]

    yield start
    for running in started:
        running.close()


def summary(signal_name: str, *, acked: int = 3, failed: int = 0, dead: int = 0) -> str:
    return (
        rf"mediator worker: stopped \({signal_name}, after \d+\.\d s\): delivered 3 \([\d.]+/s\), "
        rf"acked {acked}, failed {failed}, dead letters {dead}, in flight 0, pending 0, lag 0"
    )


# -- through a subprocess ------------------------------------------------------------------


def test_sigint_drains_the_worker_of_an_async_factory_and_exits_0(
    start: Callable[..., Running],
) -> None:
    running = start("tests.worker_targets:connect", "--progress", "0")

    running.until(START.format(backend="asyncio"))
    running.handled_all()
    status = running.stop(signal.SIGINT)

    assert status == 0, running.stderr
    stopping, stopped = running.rest()
    assert stopping == (
        "mediator worker: SIGINT: stopping; the events in flight get up to 10 s to finish; "
        "Ctrl-C again to stop at once"
    )
    assert re.fullmatch(summary("SIGINT"), stopped), stopped
    assert running.stderr == ""


def test_sigterm_stops_the_worker_of_a_function_in_a_file_on_trio_with_progress_lines(
    start: Callable[..., Running],
) -> None:
    running = start("tests/worker_targets.py:make_worker", "--backend", "trio", "--progress", "0.1")

    running.until(START.format(backend="trio"))
    progress = running.until(lambda line: ", acked 3, " in line)
    status = running.stop(signal.SIGTERM)

    assert status == 0, running.stderr
    assert re.fullmatch(
        r"mediator worker: delivered 3 \(\+[\d.]+/s\), acked 3, failed 0, dead letters 0, "
        r"in flight 0, pending 0, lag 0",
        progress,
    )
    assert set(running.seen) >= HANDLED
    assert re.fullmatch(summary("SIGTERM"), running.rest()[-1])


def test_the_log_shows_the_dead_letters(start: Callable[..., Running]) -> None:
    running = start("tests.worker_targets:refusing", "--progress", "0.1")

    running.until(lambda line: "dead letters 1," in line)
    status = running.stop(signal.SIGINT)

    assert status == 0
    assert re.fullmatch(summary("SIGINT", acked=2, failed=1, dead=1), running.rest()[-1])
    (logged,) = running.stderr.splitlines()  # basicConfig: time, level, logger, message
    assert re.fullmatch(
        r"\S+ \S+ ERROR mediator\.transports: Event \S+ \(orders\.placed\) of orders moved to "
        r"orders:dead after 1 deliveries: failed 1 times: "
        r"tests\.worker_targets\.printing_bus\.<locals>\.on_placed raised ValueError: "
        r"order 2 is refused",
        logged,
    )


def test_a_worker_instance_and_a_second_signal_that_stops_at_once(
    start: Callable[..., Running],
) -> None:
    running = start("tests.worker_targets:worker", "--progress", "0")
    running.until(START.format(backend="asyncio"))
    running.handled_all()
    assert running.stop(signal.SIGINT) == 0

    stuck = start("tests.worker_targets:stuck", "--progress", "0")
    stuck.handled_all()  # their handlers never return
    stuck.process.send_signal(signal.SIGINT)
    stuck.until(lambda line: "get up to 60 s to finish; Ctrl-C again" in line)
    status = stuck.stop(signal.SIGINT)

    assert status == 128 + signal.SIGINT == 130
    assert stuck.rest() == [
        "mediator worker: SIGINT again: stopping now; 3 events in flight stay pending and "
        "will be delivered again"
    ]


def test_a_worker_that_fails_is_an_error_line_its_traceback_and_status_1() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mediator", "worker", "tests.worker_targets:broken"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )

    assert done.returncode == 1
    first, *traceback = done.stderr.splitlines()
    assert re.fullmatch(
        r"error: the worker failed: Unrecoverable: the broker is gone for good "
        r"\(at tests/worker_targets\.py:\d+\)",
        first,
    )
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "tests.worker_targets.Unrecoverable: the broker is gone for good"
    assert done.stdout.splitlines()[-1].startswith(
        "mediator worker: stopped (failed, after 0.0 s): delivered 0 (0/s), acked 0"
    )


def test_an_async_factory_returning_something_else_is_one_error_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mediator", "worker", "tests.worker_targets:connect_nothing"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: await tests.worker_targets:connect_nothing() returned a NoneType (None), "
        "not a Worker\n"
    )


def test_import_mediator_and_graph_do_not_import_the_transports() -> None:
    code = (
        "import sys\n"
        "from mediator._cli import main\n"
        "assert main(['graph', 'example.request_advanced:registry']) == 0\n"
        "try:\n"
        "    main(['worker', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert 'mediator.transports' not in sys.modules, 'imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=WAIT
    )

    assert done.returncode == 0, done.stderr


# -- in this process ------------------------------------------------------------------------

WHAT = "a Worker, or a function (plain or async) without arguments returning one"


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("not_a_worker", f"tests.worker_targets:not_a_worker is an int (42), not {WHAT}"),
        (
            "Placed",
            f"'tests.worker_targets:Placed' is the class tests.worker_targets.Placed, not {WHAT}",
        ),
        (
            "make_nothing",
            "tests.worker_targets:make_nothing() returned a str ('nothing'), not a Worker",
        ),
        (
            "needs_settings",
            "'tests.worker_targets:needs_settings' cannot be called without arguments "
            "(missing a required argument: 'settings')",
        ),
        (
            "failing",
            "calling 'tests.worker_targets:failing' failed: RuntimeError: no settings "
            "(at tests/worker_targets.py:{line})",
        ),
        ("nope", "module 'tests.worker_targets' has no attribute 'nope' (its workers: worker)"),
    ],
)
def test_a_target_that_is_not_a_worker_is_one_error_line(
    target: str, error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    out, err = io.StringIO(), io.StringIO()

    status = main(["worker", f"tests.worker_targets:{target}"], stdout=out, stderr=err)

    source = (ROOT / "tests" / "worker_targets.py").read_text().splitlines()
    line = next(n for n, text in enumerate(source, 1) if "no settings" in text)
    assert (status, out.getvalue()) == (2, "")
    assert err.getvalue() == f"error: {error.format(line=line)}\n"


def test_a_module_without_workers_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "empty_app.py").write_text("x = 1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))  # empty_app is forgotten after
    err = io.StringIO()

    status = main(["worker", "empty_app.py:worker"], stdout=io.StringIO(), stderr=err)

    assert status == 2
    assert err.getvalue() == (
        "error: module 'empty_app.py' has no attribute 'worker' (and no Worker at module level)\n"
    )


def test_the_progress_line_shows_the_rate_since_the_last_line_and_the_totals() -> None:
    stats = WorkerStats(delivered=1200, acked=1195, failed=3, dead_lettered=2, in_flight=5, lag=40)

    assert progress_line(stats, 7, rate=120.4, since=True) == (
        "delivered 1200 (+120/s), acked 1195, failed 3, dead letters 2, in flight 5, "
        "pending 7, lag 40"
    )
    stats.lag = None  # the engine cannot tell
    assert progress_line(stats, None, rate=2.46) == (
        "delivered 1200 (2.5/s), acked 1195, failed 3, dead letters 2, in flight 5, pending ?"
    )
    assert progress_line(WorkerStats(), 0, rate=0.0, since=True).startswith("delivered 0 (+0/s), ")


def test_progress_takes_seconds_zero_or_more() -> None:
    assert progress_seconds("2.5") == 2.5
    assert progress_seconds("0") == 0.0
    for wrong in ("-1", "nan", "inf", "soon"):
        with pytest.raises(argparse.ArgumentTypeError) as raised:
            progress_seconds(wrong)
        assert str(raised.value) == (
            f"expected a number of seconds, 0 or more (0: no progress lines), got {wrong!r}"
        )


def test_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["worker", "app:worker", "--progress", "-1"])
    assert exited.value.code == 2
    assert "argument --progress: expected a number of seconds, 0 or more" in capsys.readouterr().err

    with pytest.raises(SystemExit) as exited:
        main(["worker", "app:worker", "--log-level", "chatty"])
    assert exited.value.code == 2
    assert "argument --log-level: invalid choice: 'CHATTY'" in capsys.readouterr().err

    with pytest.raises(SystemExit) as exited:
        main(["worker", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: python -m mediator worker [-h] [--backend {asyncio,trio}]\n")
    for promise in (
        "MODULE:ATTRIBUTE or PATH.py:ATTRIBUTE",
        "an async function called without arguments that returns\n",
        "awaited in the event loop",
        "called before the event loop starts",
        "every --progress seconds",
        '"?" when the engine cannot say',
        "A second signal exits at once",
        "Exit status: 0 stopped by a signal, 1 the worker failed",
        "130 (SIGINT) or 143 (SIGTERM)",
        "python -m mediator worker app.consumer:worker",
    ):
        assert promise in text

    with pytest.raises(SystemExit):
        main(["--help"])
    assert "worker    run a mediator.transports Worker until Ctrl-C or SIGTERM" in (
        capsys.readouterr().out
    )


def test_the_engine_is_named_by_its_repr_without_a_password() -> None:
    class RedisLike:
        def __repr__(self) -> str:
            return "RedisLike('redis://app:s3cret@cache:6379/0')"

    class Plain:
        pass

    assert engine_label(MemoryEngine()) == "MemoryEngine"  # <MemoryEngine streams=[...]>
    assert engine_label(RedisLike()) == "RedisLike('redis://app:***@cache:6379/0')"
    assert engine_label(Plain()) == "Plain"
