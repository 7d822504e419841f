"""What the batteries cost: providers and the built-in middleware, against direct code.

Each figure is a ratio to the direct code a user would write without the bus,
both measured alternately in the same process (median of 5 pairs), so that
both sides see the same machine noise.  The direct side builds the value
itself (``await handler(query, make_clock())``) or opens the same
``anyio.fail_after`` block a timeout middleware opens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio

from mediator import LocalRequestBus
from mediator.modifiers import log, retry, timeout

#: name -> (target ratio, what it is), in report order.
TARGETS = {
    "provided value (plain factory)": 3.5,
    "provided value (generator factory)": 5.0,
    "log + retry, records dropped": 8.0,
}


@dataclass
class Quote:
    symbol: str


class Clock:
    __slots__ = ()

    def now(self) -> int:
        return 1


def make_clock() -> Clock:
    return Clock()


def open_clock() -> Iterator[Clock]:
    yield Clock()


async def quote(query: Quote, clock: Clock) -> int:
    return clock.now()


async def plain_quote(query: Quote) -> int:
    return 1


async def _ns(run: Callable[[], Awaitable[Any]], n: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(n):
        await run()
    return (time.perf_counter_ns() - started) / n


async def _pair(
    direct: Callable[[], Awaitable[Any]], ours: Callable[[], Awaitable[Any]], n: int
) -> tuple[float, float]:
    pairs = [(await _ns(direct, n), await _ns(ours, n)) for _ in range(5)]
    return sorted(p[0] for p in pairs)[2], sorted(p[1] for p in pairs)[2]


def _bus(*modifiers: Any, provide: tuple[str, Any] | None = None, handler: Any = quote) -> Any:
    bus = LocalRequestBus(modifiers=list(modifiers))
    if provide is not None:
        bus.provide(*provide)
    bus.register(handler)
    return bus


async def measure(n: int) -> dict[str, str]:
    """The report lines, ``"x.xx (target <= t)"`` and the absolute times."""
    report: dict[str, str] = {}
    message = Quote("ACME")

    def line(name: str, direct_ns: float, ours_ns: float) -> None:
        ratio = ours_ns / direct_ns
        target = TARGETS.get(name)
        aim = f", target <= {target:g}x" if target else ""
        report[name] = f"{ratio:.2f}x{aim} ({ours_ns:.0f} ns vs {direct_ns:.0f} ns direct)"

    async def direct() -> int:
        return await quote(message, make_clock())

    plain = _bus(provide=("clock", make_clock))
    line("provided value (plain factory)", *await _pair(direct, lambda: plain.execute(message), n))

    generator = _bus(provide=("clock", open_clock))
    line(
        "provided value (generator factory)",
        *await _pair(direct, lambda: generator.execute(message), n),
    )

    # Logging configured at a level that drops the records: what production looks like.
    logger = logging.getLogger("bench.calls")
    logger.addHandler(logging.NullHandler())
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    logged = _bus(log(logger), retry(), handler=plain_quote)

    async def bare() -> int:
        return await plain_quote(message)

    line("log + retry, records dropped", *await _pair(bare, lambda: logged.execute(message), n))

    # timeout: against the same anyio.fail_after block around a direct await.
    timed = _bus(timeout(60), handler=plain_quote)

    async def fail_after() -> int:
        with anyio.fail_after(60):
            return await plain_quote(message)

    fail_after_ns, timed_ns = await _pair(fail_after, lambda: timed.execute(message), n)
    # "One middleware hop": a pass-through middleware through the bus, over a direct await.
    hop = _bus(_passthrough, handler=plain_quote)
    bare_ns, hop_ns = await _pair(bare, lambda: hop.execute(message), n)
    report["timeout(60) vs anyio.fail_after around a direct await"] = (
        f"+{timed_ns - fail_after_ns:.0f} ns, target <= one middleware hop through the bus "
        f"(+{hop_ns - bare_ns:.0f} ns) ({timed_ns:.0f} ns vs {fail_after_ns:.0f} ns)"
    )
    return report


async def _passthrough(message: Any, kwargs: dict[str, Any], call_next: Any) -> Any:
    return await call_next(message, kwargs)
