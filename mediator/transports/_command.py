"""``python -m mediator worker TARGET``: a `Worker` run until SIGINT or SIGTERM.

`mediator._cli` defines the command line and imports this module only when
the command runs, so that ``import mediator`` and ``python -m mediator graph``
never import `mediator.transports`.

The first signal cancels the worker, which lets its in-flight events finish
within its ``grace`` and acks them.  Its handlers are shielded from that
cancellation, so nothing inside the event loop can cut the wait short: a
second signal ends the process at once (status 128 + the signal's number),
and the events still in flight stay pending, to be delivered again.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import re
import signal
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType
from typing import TextIO

import anyio

from .._cli import TargetError, _a, _explain, _short, load_object, module_level
from .._names import type_name
from ._worker import Worker, WorkerStats

__all__ = ["engine_label", "progress_line", "run"]

OK, FAILED, USAGE = 0, 1, 2

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_WHAT = "a Worker, or a function (plain or async) without arguments returning one"
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Seconds the engine gets to count the pending entries before a line says ``pending ?``.
_PENDING_TIMEOUT = 5.0
#: ``scheme://user:password@``: the password is not printed.
_CREDENTIALS = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")

Maker = Callable[[], Awaitable[Worker]]


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Load ``args.target``, run its worker until a signal stops it; return the exit status."""
    try:
        maker = _maker(args.target, load_object(args.target, hint=_workers_in))
        _configure_logging(args.log_level)
        session = _Session(args.target, args.progress, args.backend, out, err)
        status: int = anyio.run(session.serve, maker, backend=args.backend)
    except KeyboardInterrupt:  # Ctrl-C while importing, before the signals are watched
        return 128 + signal.SIGINT
    return status


# -- the target ----------------------------------------------------------------------------


def _maker(spec: str, found: object) -> Maker:
    """How to get the worker: at once, from a plain function now, or from an async one later."""
    if isinstance(found, Worker):
        return _ready(found)
    if isinstance(found, type):
        raise TargetError(f"{spec!r} is the class {type_name(found)}, not {_WHAT}")
    if not callable(found):
        raise TargetError(f"{spec} is {_a(found)}, not {_WHAT}")
    try:
        inspect.signature(found).bind()
    except TypeError as error:
        raise TargetError(f"{spec!r} cannot be called without arguments ({error})") from None
    except ValueError:
        pass  # no signature to read: call it and see
    if inspect.iscoroutinefunction(found):

        async def connect() -> Worker:
            try:
                made = await found()
            except Exception as error:
                raise TargetError(f"calling {spec!r} failed: {_explain(error)}") from None
            return _checked(f"await {spec}()", made)

        return connect
    try:
        made = found()
    except Exception as error:
        raise TargetError(f"calling {spec!r} failed: {_explain(error)}") from None
    if inspect.iscoroutine(made):  # a lambda or wrapper around an async function
        made.close()
        raise TargetError(
            f"{spec}() returned a coroutine: name the async function itself (it is awaited "
            f"in the event loop), or return a Worker"
        )
    return _ready(_checked(f"{spec}()", made))


def _ready(worker: Worker) -> Maker:
    async def ready() -> Worker:
        return worker

    return ready


def _checked(title: str, made: object) -> Worker:
    if not isinstance(made, Worker):
        raise TargetError(f"{title} returned {_a(made)}, not a Worker")
    return made


def _workers_in(module: ModuleType) -> str:
    """For a missing attribute: the module's workers, if it has some at module level."""
    return module_level(module, Worker, "workers", none="Worker")


def _configure_logging(level: str | None) -> None:
    """The transports' log at ``level``, unless the application configured logging itself."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level or "INFO", format=_LOG_FORMAT)
    elif level is not None:
        root.setLevel(level)


# -- running -------------------------------------------------------------------------------


class _Session:
    """One run of the command: the worker, the signals seen, what is printed."""

    def __init__(self, spec: str, progress: float, backend: str, out: TextIO, err: TextIO) -> None:
        self.spec = spec
        self.progress = progress
        self.backend = backend
        self.out = out
        self.err = err
        #: Cancelled by the first signal: the worker's start, or the worker itself.
        self.scope: anyio.CancelScope | None = None
        self.worker: Worker | None = None
        self.stopped_by: str | None = None

    async def serve(self, maker: Maker) -> int:
        self.scope = anyio.CancelScope()
        with anyio.open_signal_receiver(*_SIGNALS) as signals:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._watch, signals)
                status = await self._run(maker)
                tasks.cancel_scope.cancel()
        return status

    async def _run(self, maker: Maker) -> int:
        failure: BaseException | None = None
        failed_at = ""  # its traceback, taken before anything else can add to it
        assert self.scope is not None
        with self.scope:
            try:
                worker = await maker()
            except TargetError as error:
                self.err.write(f"error: {error}\n")
                return USAGE
            self.worker = worker
            self._say(_start_line(worker, self.backend))
            started = anyio.current_time()
            async with anyio.create_task_group() as tasks:
                if self.progress:
                    tasks.start_soon(self._report, worker)
                try:
                    await worker.run()
                except (anyio.get_cancelled_exc_class(), KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as error:  # a down engine is retried: this is the rest
                    failure = error
                    failed_at = "".join(traceback.format_exception(_innermost(error)))
                tasks.cancel_scope.cancel()
        if self.worker is None:
            self._say(f"mediator worker: stopped ({self.stopped_by}) before the worker started")
            return OK
        stats = self.worker.stats()
        pending = await _pending(self.worker)
        elapsed = anyio.current_time() - started
        why = "failed, " if failure is not None else f"{self.stopped_by or 'returned'}, "
        self._say(
            f"mediator worker: stopped ({why}after {elapsed:.1f} s): "
            f"{progress_line(stats, pending, rate=stats.delivered / elapsed if elapsed else 0)}"
        )
        if failure is not None:
            cause = _innermost(failure)
            self.err.write(f"error: the worker failed: {_explain(cause)}\n")
            self.err.write(failed_at)
            self.err.flush()
            return FAILED
        return OK

    async def _watch(self, signals: AsyncIterator[signal.Signals]) -> None:
        async for number in signals:
            name = signal.Signals(number).name
            if self.stopped_by is None:
                self.stopped_by = name
                self._say(_stopping_line(self.worker, name))
                if self.scope is not None:
                    self.scope.cancel()
                continue
            # The worker's handlers are shielded while they drain: only leaving stops them.
            in_flight = self.worker.stats().in_flight if self.worker is not None else 0
            self._say(
                f"mediator worker: {name} again: stopping now; {_events(in_flight)} in flight "
                f"stay pending and will be delivered again"
            )
            self.err.flush()
            logging.shutdown()
            os._exit(128 + number)

    async def _report(self, worker: Worker) -> None:
        before, then = worker.stats(), anyio.current_time()
        tick = then
        while True:
            tick += self.progress
            await anyio.sleep_until(tick)
            stats, now = worker.stats(), anyio.current_time()
            rate = (stats.delivered - before.delivered) / (now - then) if now > then else 0.0
            pending = await _pending(worker)
            self._say(f"mediator worker: {progress_line(stats, pending, rate=rate, since=True)}")
            before, then = stats, now
            tick = max(tick, anyio.current_time())  # a slow engine: no burst of lines after it

    def _say(self, line: str) -> None:
        self.out.write(f"{line}\n")
        self.out.flush()


async def _pending(worker: Worker) -> int | None:
    """The group's pending entries over the worker's streams; None if the engine cannot say."""
    total = 0
    with anyio.move_on_after(_PENDING_TIMEOUT):
        try:
            for stream in worker.streams:
                total += await worker.engine.pending_count(stream, worker.group)
        except Exception:
            return None
        return total
    return None


def _innermost(error: BaseException) -> BaseException:
    """The error itself rather than task groups of one around it."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


# -- the lines -----------------------------------------------------------------------------


def _start_line(worker: Worker, backend: str) -> str:
    streams = ", ".join(worker.streams)
    return (
        f"mediator worker: engine {engine_label(worker.engine)}, "
        f"stream{'s' if len(worker.streams) != 1 else ''} {streams}, group {worker.group}, "
        f"consumer {worker.consumer} ({backend}); Ctrl-C to stop"
    )


def _stopping_line(worker: Worker | None, name: str) -> str:
    if worker is None:
        return f"mediator worker: {name}: stopping"
    return (
        f"mediator worker: {name}: stopping; the events in flight get up to "
        f"{worker.grace:g} s to finish; {'Ctrl-C' if name == 'SIGINT' else name} again to "
        f"stop at once"
    )


def engine_label(engine: object) -> str:
    """The engine's own repr when it has a readable one (no password), else its class name."""
    cls = type(engine)
    name = cls.__name__
    if cls.__repr__ is object.__repr__:
        return name
    text = _CREDENTIALS.sub(r"\1***@", _short(engine))
    return name if text.startswith("<") else text


def progress_line(
    stats: WorkerStats, pending: int | None, *, rate: float, since: bool = False
) -> str:
    """The counters in one line: ``rate`` is deliveries per second (``since``: the last line)."""
    parts = [
        f"delivered {stats.delivered} ({'+' if since else ''}{_rate(rate)}/s)",
        f"acked {stats.acked}",
        f"failed {stats.failed}",
        f"dead letters {stats.dead_lettered}",
        f"in flight {stats.in_flight}",
        f"pending {'?' if pending is None else pending}",
    ]
    if stats.lag is not None:
        parts.append(f"lag {stats.lag}")
    return ", ".join(parts)


def _rate(per_second: float) -> str:
    if per_second >= 10 or per_second == 0:
        return f"{per_second:.0f}"
    return f"{per_second:.1f}"


def _events(count: int) -> str:
    return f"{count} event{'s' if count != 1 else ''}"
