"""What an engine (Redis Streams, the in-memory one, NATS, Kafka) offers the relay and worker.

Each method maps onto one broker operation, so that an engine fits in one
module: Redis's XADD, XGROUP CREATE ... 0, XREADGROUP ... 0, XAUTOCLAIM,
XREADGROUP ... >, XACK, and MULTI/EXEC around XADD + XACK for dead letters.
The worker, not the engine, decides the order of reads (own pending entries
after a restart, then claims, then new entries) and when to ack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ._envelope import Envelope

__all__ = ["DeadLetter", "Engine", "Inbound"]


@dataclass(frozen=True, slots=True)
class Inbound:
    """An entry read by a consumer of a group: it stays pending until acked."""

    stream: str
    #: The engine's id of the entry (not the envelope's id).
    entry_id: str
    envelope: Envelope
    #: How many times the group delivered it, this time included (1 the first time).
    attempt: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An entry moved to the dead-letter stream ``<stream>:dead``."""

    stream: str
    entry_id: str
    envelope: Envelope
    group: str
    attempts: int
    reason: str


@runtime_checkable
class Engine(Protocol):
    """A log of entries per stream, read by consumer groups with pending-entry lists."""

    async def append(self, stream: str, envelopes: Sequence[Envelope]) -> list[str]:
        """Append in order; durable when it returns.  Returns the entry ids."""
        ...

    async def ensure_group(self, stream: str, group: str) -> None:
        """Create ``group`` reading ``stream`` from its first entry; a no-op if it exists."""
        ...

    async def read_pending(
        self, stream: str, group: str, consumer: str, *, count: int, after: str | None = None
    ) -> list[Inbound]:
        """This consumer's own pending entries (after a restart), delivered again.

        At most ``count``, in id order, from the first (or the first after the
        entry id ``after``: the last of the previous page, to read them all once).
        """
        ...

    async def claim(
        self, stream: str, group: str, consumer: str, *, idle: float, count: int
    ) -> list[Inbound]:
        """Take over entries pending for more than ``idle`` seconds with any consumer."""
        ...

    async def touch(self, stream: str, group: str, consumer: str, entry_ids: Sequence[str]) -> None:
        """Mark entries this consumer still handles as busy, without counting a delivery.

        Their idle time starts again (Redis: XCLAIM ... JUSTID), so that no claim,
        its own or another consumer's, takes over an entry whose handler is slow.
        """
        ...

    async def read_new(
        self, streams: Sequence[str], group: str, consumer: str, *, count: int, block: float
    ) -> list[Inbound]:
        """Entries never delivered to the group, waiting at most ``block`` seconds for one."""
        ...

    async def ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
        """Remove entries from the group's pending list."""
        ...

    async def dead_letter(self, inbound: Inbound, group: str, reason: str) -> None:
        """Copy the entry to ``<stream>:dead`` with its attempts and reason, and ack it.

        One atomic step where the engine allows; otherwise the copy comes first,
        so a crash in between leaves a duplicate dead letter, never a lost entry.
        """
        ...

    async def dead_letters(self, stream: str) -> list[DeadLetter]:
        """What ``<stream>:dead`` holds, oldest first."""
        ...

    async def pending_count(self, stream: str, group: str) -> int:
        """How many entries the group has delivered and not acked."""
        ...

    async def lag(self, stream: str, group: str) -> int | None:
        """How many entries of the stream the group has not read yet; None if unknown.

        Redis 7 knows it (``XINFO GROUPS``); an engine that cannot tell says None.
        """
        ...
