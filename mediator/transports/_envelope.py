"""`Envelope`: an event as it travels between processes, and its time-ordered id."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

__all__ = ["Envelope", "new_id"]

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event on the wire: what every engine stores and every worker reads.

    ``id`` is the idempotency key end to end (the inbox's key), made once
    when the event enters the outbox, never by the engine.
    """

    #: A UUIDv7 string: unique, and sorting by it sorts by creation time.
    id: str
    #: The stable wire name of the event type (``"orders.placed"``), never a module path.
    type: str
    version: int
    #: When the event happened: an aware datetime, in UTC.
    occurred_at: datetime
    #: The encoded event (`content_type` says how).
    payload: bytes
    #: Partition key (an aggregate id): engines keep order per key.
    key: str | None = None
    #: ``correlation_id``, ``causation_id``, ``traceparent`` (W3C), and the application's own.
    headers: Mapping[str, str] = field(default_factory=lambda: _NO_HEADERS)
    content_type: str = "application/json"


_lock = threading.Lock()
_last = [0, 0]  # the last id's milliseconds and counter: ids made in one process keep order


def new_id() -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, a counter, then random bits.

    Ids made by one process are strictly increasing, even within a millisecond
    (a 12-bit counter, which borrows the next millisecond when it overflows).
    """
    with _lock:
        now = time.time_ns() // 1_000_000
        millis, counter = _last
        if now > millis:
            millis, counter = now, int.from_bytes(os.urandom(2)) & 0x3FF  # room to count up
        else:
            counter += 1
            if counter > 0xFFF:
                millis, counter = millis + 1, 0
        _last[:] = [millis, counter]
    value = (millis << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62)
    value |= int.from_bytes(os.urandom(8)) & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))
