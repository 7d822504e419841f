"""What adapters return, and the loop shapes every contender is timed with.

Standard library only: every worker imports it, peers' included.  Every timed
loop, the direct baseline's too, is built by the same helper, so contenders
differ only in the call they make.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Loop = Callable[[int], Awaitable[None]]
Check = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    """One scenario of one contender: a timed loop and a one-shot correctness check."""

    loop: Loop
    check: Check


def repeat(operation: Callable[[Any], Awaitable[Any]], message: Any) -> Loop:
    """``n`` times ``await operation(message)``."""

    async def loop(n: int) -> None:
        for _ in range(n):
            await operation(message)

    return loop


def repeat_as_user(operation: Callable[..., Awaitable[Any]], message: Any) -> Loop:
    """``n`` times ``await operation(message, user="ada")``: one value given at call time."""

    async def loop(n: int) -> None:
        for _ in range(n):
            await operation(message, user="ada")

    return loop


def drain(stream: Callable[[Any], AsyncIterable[Any]], message: Any) -> Loop:
    """``n`` times: iterate every item of ``stream(message)``."""

    async def loop(n: int) -> None:
        for _ in range(n):
            async for _ in stream(message):
                pass

    return loop


def returns(
    operation: Callable[..., Awaitable[Any]], message: Any, expected: Any, **kwargs: Any
) -> Check:
    """Check that one call returns ``expected``."""

    async def check() -> None:
        result = await operation(message, **kwargs)
        assert result == expected, f"expected {expected!r}, got {result!r}"

    return check


def counts(
    operation: Callable[[Any], Awaitable[Any]], message: Any, counter: list[int], runs: int
) -> Check:
    """Check that one call ran ``runs`` handlers (each adds 1 to ``counter[0]``)."""

    async def check() -> None:
        before = counter[0]
        await operation(message)
        assert counter[0] - before == runs, f"{counter[0] - before} handlers ran, not {runs}"

    return check


def collects(
    stream: Callable[[Any], AsyncIterable[Any]], message: Any, expected: list[Any]
) -> Check:
    """Check that one stream yields ``expected``."""

    async def check() -> None:
        items = [item async for item in stream(message)]
        assert items == expected, f"the stream yielded {len(items)} items, not {len(expected)}"

    return check
