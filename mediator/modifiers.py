"""Built-in middleware: `timeout`, `retry`, `log`, `limit` and `trace`.

Each factory checks its arguments once and returns a plain middleware function
(``async def middleware(message, kwargs, call_next)``), so it goes in any
``modifiers=`` list, at bus, registry or ``register`` level, and costs one
function call per link: a callable object would cost more on every call.  Its
``__qualname__`` is how it was made, ``timeout(5.0)``, which is what reprs,
errors and ``python -m mediator graph`` show.

Each one spans a stream's whole iteration, not just its opening: for a stream
handler (``call_next.handler.kind == "stream"``) the iterator of the items is
wrapped, and what the middleware does at the end (log, end its span, give its
slot back) happens when the iteration ends, exhausted, failed or closed early.
No scope and no tracing context is held open across the consumer's code: they
are entered around each step of the handler's generator only.
"""

# Only modules and private names are imported: this namespace holds the public API alone.
import logging
import random
import time
import typing
from asyncio import _get_running_loop
from collections import abc as _abc

import anyio

from . import _chain, _errors
from ._handler import Handler as _Handler
from ._names import callable_name as _callable_name
from ._names import type_name as _type_name

if typing.TYPE_CHECKING:
    from opentelemetry.trace import Tracer

__all__ = ("default_backoff", "limit", "log", "retry", "timeout", "trace")

#: What `log` measures durations with (a seam for tests: read when `log()` is called).
_clock: _abc.Callable[[], float] = time.perf_counter

#: The logger `log()` writes to by default.  Its NullHandler keeps Python's last
#: resort handler from printing its warnings and errors to stderr when the
#: application configured no logging; records still propagate to the handlers
#: it did configure.  ("mediator" itself keeps the last resort: the bus's
#: background failures must never be lost.)
_DEFAULT_LOGGER = "mediator.calls"

#: `default_backoff`: the first wait is up to this many seconds, then it doubles...
_BACKOFF_BASE = 0.1
#: ... up to this cap.
_BACKOFF_CAP = 10.0

#: Mistakes in the call itself, which running it again cannot fix.
_NEVER_RETRIED = (_errors.HandlerArgumentError, _errors.ModifierError, _errors.ProviderError)


def _labelled(middleware: typing.Any, label: str) -> _chain.Middleware:
    """``middleware``, named by how it was made (``timeout(5.0)``) in reprs and errors."""
    middleware.__qualname__ = label
    return middleware  # type: ignore[no-any-return]


def _seconds(call: str, option: str, value: object, *, example: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{call}: {option} is a number of seconds (an int or float), not "
            f"{value!r} ({type(value).__name__}); e.g. {example}"
        )
    if not value > 0:  # NaN too
        raise ValueError(f"{call}: {option}={value!r} must be above 0 seconds; e.g. {example}")
    return float(value)


async def _close(iterator: typing.Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


# -- timeout ----------------------------------------------------------------------


def timeout(seconds: float) -> _chain.Middleware:
    """Cancel the rest of the chain past ``seconds`` and raise a `TimeoutError` naming the handler.

    The error is a `mediator.errors.HandlerTimeoutError`.  Only this
    middleware's own deadline is turned into it: a cancellation from outside
    (a caller's cancel scope, a task group) goes through untouched.  For a
    stream the deadline covers the whole iteration, counted from its start; it
    is checked at each item the handler produces, never while the consumer's
    own code runs, and the error is raised at the next item asked for.

    A handler is stopped at its next ``await``.  A plain ``def`` run inline
    cannot be interrupted, nor one run in a thread unless it was registered
    with ``abandon_on_cancel=True``: such a call finishes, and its result is
    returned.  Outside `retry` it bounds all the attempts together; inside,
    each attempt.

    Raises:
        TypeError: ``seconds`` is not an int or float.
        ValueError: ``seconds`` is not above 0.
    """
    allowed = _seconds(f"timeout({seconds!r})", "seconds", seconds, example="timeout(5.0)")
    scope_until = anyio.CancelScope
    now = anyio.current_time

    async def timed(
        message: typing.Any, kwargs: dict[str, typing.Any], call_next: _chain.Next
    ) -> typing.Any:
        deadline = now() + allowed
        if call_next.handler.kind == "stream":
            with scope_until(deadline=deadline):
                items = await call_next(message, kwargs)
                return _Deadline(items, deadline, call_next.handler, allowed)
        else:
            with scope_until(deadline=deadline):
                return await call_next(message, kwargs)
        # Reached only when this scope's deadline cancelled the call and the scope caught
        # the cancellation: an outer cancellation goes on through the `with`.
        raise _errors.HandlerTimeoutError(call_next.handler, seconds=allowed)

    return _labelled(timed, f"timeout({seconds!r})")


class _Deadline:
    """A stream's items, each awaited in a cancel scope that ends at the deadline."""

    __slots__ = ("_deadline", "_handler", "_items", "_seconds")

    def __init__(
        self,
        items: _abc.AsyncIterator[typing.Any],
        deadline: float,
        handler: _Handler,
        seconds: float,
    ) -> None:
        self._items = items
        self._deadline = deadline
        self._handler = handler
        self._seconds = seconds

    def __aiter__(self) -> typing.Self:
        return self

    async def __anext__(self) -> typing.Any:
        if anyio.current_time() >= self._deadline:  # spent while the consumer had the item
            await _close(self._items)
            raise _errors.HandlerTimeoutError(self._handler, seconds=self._seconds)
        with anyio.CancelScope(deadline=self._deadline):
            return await self._items.__anext__()
        raise _errors.HandlerTimeoutError(self._handler, seconds=self._seconds)  # our deadline only

    async def aclose(self) -> None:
        await _close(self._items)


# -- retry ------------------------------------------------------------------------


def default_backoff(attempt: int) -> float:
    """`retry`'s default wait after failed attempt number ``attempt`` (1 for the first).

    Exponential with full jitter: a random number of seconds between 0 and
    ``min(10, 0.1 * 2 ** (attempt - 1))``, so up to 0.1 s after the first
    failure, 0.2 s after the second, never more than 10 s.  The jitter keeps
    callers that failed together from retrying together.
    """
    return random.uniform(0.0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2.0 ** min(attempt - 1, 64)))


def retry(
    attempts: int = 3,
    on: type[Exception] | tuple[type[Exception], ...] = (Exception,),
    backoff: _abc.Callable[[int], float] | None = None,
) -> _chain.Middleware:
    """Run the rest of the chain again when it raises one of ``on``, up to ``attempts`` times.

    ``backoff(attempt)`` gives the seconds to wait after failed attempt number
    ``attempt`` (1 for the first); the default is `default_backoff`.  The wait
    is an ``anyio.sleep``, so it can be cancelled.  Cancellation and other
    `BaseException`\\ s are never retried, nor a mistake in the call that no
    retry can fix (a missing handler argument, a broken modifier).  The error
    that ends the retries carries a note saying how many attempts were made.

    A stream is retried only while it fails before producing its first item
    (the handler, its middleware and providers are started again); once an
    item went out, running it again would repeat items, so a later error ends
    the stream.  Each event handler is retried on its own.

    Raises:
        TypeError: ``attempts`` is not an int, ``on`` not an exception class or
            a tuple of them (or one is a `BaseException` that is not an
            `Exception`), or ``backoff`` not callable.
        ValueError: ``attempts`` is below 1, or ``on`` is an empty tuple.
    """
    label = _retry_label(attempts, on, backoff)
    if isinstance(attempts, bool) or not isinstance(attempts, int):
        raise TypeError(
            f"{label}: attempts is the number of tries, an int, not {attempts!r}; "
            f"e.g. retry(attempts=3)"
        )
    if attempts < 1:
        raise ValueError(f"{label}: attempts must be 1 or more (the first try counts)")
    catch = _exception_classes(label, on)
    if backoff is not None and not callable(backoff):
        raise TypeError(
            f"{label}: backoff is a function from the attempt number to the seconds to wait, "
            f"e.g. backoff=lambda attempt: 0.5 * attempt"
        )
    wait = default_backoff if backoff is None else backoff
    sleep = anyio.sleep

    async def retried(
        message: typing.Any, kwargs: dict[str, typing.Any], call_next: _chain.Next
    ) -> typing.Any:
        if call_next.handler.kind == "stream":
            return await _retry_stream(message, kwargs, call_next, attempts, catch, wait)
        attempt = 1
        while True:
            try:
                return await call_next(message, kwargs)
            except catch as error:
                if attempt >= attempts or isinstance(error, _NEVER_RETRIED):
                    _note_retries(error, attempt, attempts, catch, call_next.handler)
                    raise
            except Exception as error:
                _note_retries(error, attempt, attempts, catch, call_next.handler)
                raise
            # Out of the except block: the next attempt's error does not chain this one.
            await sleep(wait(attempt))
            attempt += 1

    return _labelled(retried, label)


async def _retry_stream(
    message: typing.Any,
    kwargs: dict[str, typing.Any],
    call_next: _chain.Next,
    attempts: int,
    catch: tuple[type[Exception], ...],
    wait: _abc.Callable[[int], float],
) -> _abc.AsyncIterator[typing.Any]:
    """Open the stream and get its first item, again while that fails; then the items."""
    attempt = 1
    while True:
        items: _abc.AsyncIterator[typing.Any] | None = None
        try:
            items = await call_next(message, kwargs)
            first = await items.__anext__()
        except StopAsyncIteration:  # no item at all: an empty stream, finished
            assert items is not None  # only __anext__ raises it
            return items
        except BaseException as error:
            if items is not None:
                await _close(items)
            if not isinstance(error, Exception):
                raise
            if (
                not isinstance(error, catch)
                or attempt >= attempts
                or (isinstance(error, _NEVER_RETRIED))
            ):
                _note_retries(error, attempt, attempts, catch, call_next.handler)
                raise
        else:
            return _Prepended(first, items)
        await anyio.sleep(wait(attempt))
        attempt += 1


class _Prepended:
    """``first``, then the rest of ``items``."""

    __slots__ = ("_first", "_items", "_pending")

    def __init__(self, first: typing.Any, items: _abc.AsyncIterator[typing.Any]) -> None:
        self._first = first
        self._items = items
        self._pending = True

    def __aiter__(self) -> typing.Self:
        return self

    def __anext__(self) -> _abc.Awaitable[typing.Any]:
        if self._pending:
            self._pending = False
            first, self._first = self._first, None
            return _ready(first)
        return self._items.__anext__()

    async def aclose(self) -> None:
        self._pending = False
        self._first = None
        await _close(self._items)


async def _ready(value: typing.Any) -> typing.Any:
    return value


def _exception_classes(label: str, on: object) -> tuple[type[Exception], ...]:
    classes = on if isinstance(on, tuple) else (on,)
    if not classes:
        raise ValueError(f"{label}: on=() retries nothing; name the exceptions to retry")
    for cls in classes:
        if not isinstance(cls, type) or not issubclass(cls, BaseException):
            hint = " (a tuple, not a list)" if isinstance(on, list) else ""
            raise TypeError(
                f"{label}: on takes an exception class or a tuple of them{hint}, not "
                f"{on!r}; e.g. retry(on=(ConnectionError, TimeoutError))"
            )
        if not issubclass(cls, Exception):
            raise TypeError(
                f"{label}: on={cls.__name__} is a BaseException that is not an Exception: "
                f"retry never retries cancellation, KeyboardInterrupt or SystemExit; retry "
                f"Exception subclasses, e.g. on=(ConnectionError,)"
            )
    return classes


def _note_retries(
    error: Exception,
    attempt: int,
    attempts: int,
    catch: tuple[type[Exception], ...],
    handler: _Handler,
) -> None:
    """Say on the error that ends the retries why they ended, and after how many attempts."""
    made = f"{attempt} attempt{'s' if attempt > 1 else ''}"
    if isinstance(error, _NEVER_RETRIED):
        why = "not retried: a mistake in the call, which running it again cannot fix"
    elif not isinstance(error, catch):
        if attempt == 1:
            return  # nothing was retried, and the error says what it is
        why = f"not retried: {type(error).__name__} is not in on={_classes(catch)}"
    else:
        why = "gave up: this is the last attempt's error"
    _errors.add_note(error, f"retry: {made} at {handler.name}, {why}.")


def _retry_label(attempts: object, on: object, backoff: object) -> str:
    shown = [f"attempts={attempts!r}"]
    if on != (Exception,):
        shown.append(f"on={_classes(on) if isinstance(on, tuple) else _class(on)}")
    if backoff is not None:
        shown.append(f"backoff={_callable_name(backoff) if callable(backoff) else repr(backoff)}")
    return f"retry({', '.join(shown)})"


def _class(cls: object) -> str:
    return getattr(cls, "__name__", None) or repr(cls)


def _classes(classes: tuple[object, ...]) -> str:
    """``(A,)`` or ``(A, B)``, as the tuple is written."""
    names = [_class(cls) for cls in classes]
    return f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"


# -- log --------------------------------------------------------------------------


def log(
    logger: logging.Logger | str | None = None,
    level: int | str = logging.DEBUG,
    slow: float | None = None,
) -> _chain.Middleware:
    """Log one record per call: message type, handler, duration and outcome.

    ``logger`` is a `logging.Logger` or a logger name; by default
    ``logging.getLogger("mediator.calls")``, which prints nothing until the
    application configures logging (it has a ``NullHandler``, so Python's last
    resort handler stays quiet).  A call that succeeded (or was cancelled, or,
    for a stream, closed early) is logged at ``level``; one that took more than
    ``slow`` seconds at ``WARNING`` (or ``level``, if higher); a failure at
    ``ERROR`` with its traceback.  For a stream the record is written when its
    iteration ends and counts the items.

    Each record also carries fields for structured logging, in ``extra``:
    ``mediator_message_type`` and ``mediator_handler`` (qualified names),
    ``mediator_handler_kind``, ``mediator_duration`` (seconds),
    ``mediator_outcome`` (``"ok"``, ``"error"``, ``"cancelled"`` or, for a
    stream closed before its end, ``"closed"``) and ``mediator_items`` (the
    items a stream produced; None for other calls).  A disabled level costs
    one ``isEnabledFor`` check.

    Raises:
        TypeError: ``logger`` is not a Logger or a name, ``level`` not a level,
            or ``slow`` not a number.
        ValueError: ``level`` is an unknown level name, or ``slow`` not above 0.
    """
    shown = []
    if logger is not None:
        shown.append(repr(logger.name if isinstance(logger, logging.Logger) else logger))
    if level != logging.DEBUG:
        named = isinstance(level, int) and level in logging.getLevelNamesMapping().values()
        shown.append(f"level={logging.getLevelName(level) if named else repr(level)}")
    if slow is not None:
        shown.append(f"slow={slow!r}")
    label = f"log({', '.join(shown)})"
    target = _logger(label, logger)
    level = _level(label, level)
    slow_level = max(level, logging.WARNING)
    if slow is not None:
        slow = _seconds(label, "slow", slow, example="log(slow=0.5)")
    clock = _clock
    enabled = target.isEnabledFor
    record = _Recorder(target, level, slow, slow_level, clock)

    async def logged(
        message: typing.Any, kwargs: dict[str, typing.Any], call_next: _chain.Next
    ) -> typing.Any:
        started = clock()
        try:
            result = await call_next(message, kwargs)
        except Exception as error:
            if enabled(logging.ERROR):
                record.failed(message, call_next.handler, started, error, None)
            raise
        except BaseException:
            record.ended(message, call_next.handler, started, "cancelled", None)
            raise
        if call_next.handler.kind == "stream":
            return _LoggedItems(result, record, message, call_next.handler, started)
        if slow is None:
            if enabled(level):
                record.emit(level, message, call_next.handler, clock() - started, "ok", None)
        else:
            record.ended(message, call_next.handler, started, "ok", None)
        return result

    return _labelled(logged, label)


def _logger(label: str, logger: object) -> logging.Logger:
    if logger is None:
        default = logging.getLogger(_DEFAULT_LOGGER)
        if not any(isinstance(handler, logging.NullHandler) for handler in default.handlers):
            default.addHandler(logging.NullHandler())
        return default
    if isinstance(logger, str):
        return logging.getLogger(logger)
    if isinstance(logger, logging.Logger):
        return logger
    raise TypeError(
        f"{label}: logger is a logging.Logger or a logger name, not {logger!r}; "
        f"e.g. log(logging.getLogger(__name__))"
    )


def _level(label: str, level: object) -> int:
    if isinstance(level, str):
        levels = logging.getLevelNamesMapping()  # now: custom levels count too
        if level.upper() not in levels:
            raise ValueError(
                f"{label}: level={level!r} is not a logging level; use one of "
                f"{', '.join(sorted(levels, key=levels.__getitem__))}, or logging.INFO etc."
            )
        return levels[level.upper()]
    if isinstance(level, bool) or not isinstance(level, int):
        raise TypeError(f"{label}: level is a logging level such as logging.INFO, not {level!r}")
    return level


#: outcome -> what the record says happened, ``Get <said> app.get_user <in> 1.20 ms``.
_SAID = {
    "ok": ("handled by", "in"),
    "error": ("failed in", "after"),
    "cancelled": ("cancelled in", "after"),
    "closed": ("closed early by", "after"),
}


class _Recorder:
    """Writes `log`'s records; built once per `log()`, called only when a record is due."""

    __slots__ = ("clock", "level", "logger", "slow", "slow_level")

    def __init__(
        self,
        logger: logging.Logger,
        level: int,
        slow: float | None,
        slow_level: int,
        clock: _abc.Callable[[], float],
    ) -> None:
        self.logger = logger
        self.level = level
        self.slow = slow
        self.slow_level = slow_level
        self.clock = clock

    def ended(
        self,
        message: typing.Any,
        handler: _Handler,
        started: float,
        outcome: str,
        items: int | None,
    ) -> None:
        """A call that did not fail: at ``level``, or the slow level past ``slow``."""
        duration = self.clock() - started
        level = self.level
        if self.slow is not None and duration > self.slow:
            level = self.slow_level
        if self.logger.isEnabledFor(level):
            self.emit(level, message, handler, duration, outcome, items)

    def failed(
        self,
        message: typing.Any,
        handler: _Handler,
        started: float,
        error: BaseException,
        items: int | None,
    ) -> None:
        duration = self.clock() - started
        if self.logger.isEnabledFor(logging.ERROR):
            self.emit(logging.ERROR, message, handler, duration, "error", items, error)

    def emit(
        self,
        level: int,
        message: typing.Any,
        handler: _Handler,
        duration: float,
        outcome: str,
        items: int | None,
        error: BaseException | None = None,
    ) -> None:
        kind = type(message)
        said, preposition = _SAID[outcome]
        text = "%s %s %s %s %.2f ms"
        args: list[object] = [kind.__qualname__, said, handler.name, preposition, duration * 1e3]
        if items is not None:
            text += ", %d item%s"
            args += [items, "" if items == 1 else "s"]
        if error is not None:
            text += " (%s)"
            args.append(type(error).__name__)
        if self.slow is not None and duration > self.slow:
            text += ": slow, above %g s"
            args.append(self.slow)
        self.logger.log(
            level,
            text,
            *args,
            exc_info=error,
            extra={
                "mediator_message_type": _type_name(kind),
                "mediator_handler": handler.name,
                "mediator_handler_kind": handler.kind,
                "mediator_duration": duration,
                "mediator_outcome": outcome,
                "mediator_items": items,
            },
        )


class _Watched:
    """A stream's items that call `_ended` once, when the iteration ends however it ends.

    Exhausted (``"ok"``), raised (``"error"``, or ``"cancelled"`` for a
    `BaseException`) or closed before its end (``"closed"``, by ``aclose``,
    which closes the handler's generator first).
    """

    __slots__ = ("_count", "_items", "_open")

    def __init__(self, items: _abc.AsyncIterator[typing.Any]) -> None:
        self._items = items
        self._count = 0
        self._open = True

    def __aiter__(self) -> typing.Self:
        return self

    async def __anext__(self) -> typing.Any:
        try:
            item = await self._items.__anext__()
        except StopAsyncIteration:
            self._end("ok", None)
            raise
        except Exception as error:
            self._end("error", error)
            raise
        except BaseException as error:
            self._end("cancelled", error)
            raise
        self._count += 1
        return item

    async def aclose(self) -> None:
        try:
            await _close(self._items)
        except Exception as error:
            self._end("error", error)
            raise
        except BaseException as error:
            self._end("cancelled", error)
            raise
        self._end("closed", None)

    def _end(self, outcome: str, error: BaseException | None) -> None:
        if self._open:
            self._open = False
            self._ended(outcome, error)

    def _ended(self, outcome: str, error: BaseException | None) -> None:
        raise NotImplementedError


class _LoggedItems(_Watched):
    __slots__ = ("_handler", "_message", "_record", "_started")

    def __init__(
        self,
        items: _abc.AsyncIterator[typing.Any],
        record: _Recorder,
        message: typing.Any,
        handler: _Handler,
        started: float,
    ) -> None:
        super().__init__(items)
        self._record = record
        self._message = message
        self._handler = handler
        self._started = started

    def _ended(self, outcome: str, error: BaseException | None) -> None:
        if error is not None and outcome == "error":
            self._record.failed(self._message, self._handler, self._started, error, self._count)
        else:
            self._record.ended(self._message, self._handler, self._started, outcome, self._count)


# -- limit ------------------------------------------------------------------------


def limit(n: int) -> _chain.Middleware:
    """Let at most ``n`` calls through at once; the others wait for a free slot, in order.

    The slots belong to the middleware object: every handler it wraps shares
    them (one ``limit(10)`` on a bus bounds all its handlers together, one per
    ``register`` bounds that handler).  A stream holds its slot until its
    iteration ends.  The middleware may be made at import time, outside any
    event loop: its ``anyio.CapacityLimiter`` is created on first use, one for
    asyncio and one for any other backend (trio).

    A handler that calls the bus again through the same ``limit`` needs a
    second slot: with ``limit(1)`` such a nested call waits forever.

    Raises:
        TypeError: ``n`` is not an int.
        ValueError: ``n`` is below 1.
    """
    label = f"limit({n!r})"
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{label}: n is the number of calls let through at once, an int")
    if n < 1:
        raise ValueError(f"{label}: n must be 1 or more")
    # [asyncio's, any other backend's]: an anyio limiter belongs to the backend it was
    # made under, and a module-level bus may be used under both (tests often do).
    limiters: list[anyio.CapacityLimiter | None] = [None, None]
    would_block = anyio.WouldBlock

    def limiter() -> anyio.CapacityLimiter:
        index = 0 if _get_running_loop() is not None else 1
        found = limiters[index]
        if found is None:
            found = limiters[index] = anyio.CapacityLimiter(n)
        return found

    async def limited(
        message: typing.Any, kwargs: dict[str, typing.Any], call_next: _chain.Next
    ) -> typing.Any:
        slots = limiter()
        borrower = object()  # one per call: a task may hold several (nested calls)
        try:
            slots.acquire_on_behalf_of_nowait(borrower)  # no yield to the loop when free
        except would_block:
            await slots.acquire_on_behalf_of(borrower)
        try:
            result = await call_next(message, kwargs)
        except BaseException:
            slots.release_on_behalf_of(borrower)
            raise
        if call_next.handler.kind == "stream":
            return _HeldItems(result, slots, borrower)
        slots.release_on_behalf_of(borrower)
        return result

    return _labelled(limited, label)


class _HeldItems(_Watched):
    __slots__ = ("_borrower", "_slots")

    def __init__(
        self, items: _abc.AsyncIterator[typing.Any], slots: anyio.CapacityLimiter, borrower: object
    ) -> None:
        super().__init__(items)
        self._slots = slots
        self._borrower = borrower

    def _ended(self, outcome: str, error: BaseException | None) -> None:
        self._slots.release_on_behalf_of(self._borrower)


# -- trace ------------------------------------------------------------------------


def trace(tracer: "Tracer | None" = None) -> _chain.Middleware:
    """An OpenTelemetry span around each handler call; needs ``mediator-bus[otel]``.

    The span is named after the message type, carries the attributes
    ``mediator.message_type`` and ``mediator.handler`` (qualified names),
    ``mediator.handler_kind`` and ``code.function.name``, ``code.file.path``,
    ``code.line.number``, and is the current span while the handler runs, so
    the handler's own spans are its children.  A failure is recorded on it as
    an exception event, with ``error.type`` and the status ERROR; a
    cancellation ends it without an error.  For a stream the span lasts until
    the iteration ends, and is current only while the handler produces an item.

    ``tracer``: by default ``opentelemetry.trace.get_tracer("mediator")``, which
    follows the global tracer provider even when it is set after this call.

    Raises:
        ImportError: OpenTelemetry's API is not installed.
        TypeError: ``tracer`` is not a Tracer (a TracerProvider, say).
    """
    try:
        from . import _otel
    except ImportError as error:
        if not (error.name or "").startswith("opentelemetry"):
            raise
        raise ImportError(
            "mediator.modifiers.trace() needs OpenTelemetry's API, which is not installed: "
            "pip install 'mediator-bus[otel]'",
            name=error.name,
        ) from error
    return _otel.traced(tracer)
