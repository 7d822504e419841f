"""The `Case` record adapters return (standard library only: imported by every worker)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One scenario of one contender: a timed loop and a one-shot correctness check."""

    loop: Callable[[int], Awaitable[None]]
    check: Callable[[], Awaitable[None]]
