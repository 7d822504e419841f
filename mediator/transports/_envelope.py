"""`Envelope`: an event as it travels between processes, and its time-ordered id."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from json import loads
from json.encoder import encode_basestring_ascii as _quote
from types import MappingProxyType

__all__ = ["Envelope", "JsonHeaders", "headers_json", "new_id"]

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


def headers_json(headers: Mapping[str, str]) -> str:
    """``headers`` as a compact JSON object (``json.dumps`` builds an encoder per call)."""
    if isinstance(headers, JsonHeaders):
        return headers.json
    return "{" + ",".join(_quote(k) + ":" + _quote(v) for k, v in headers.items()) + "}"


class JsonHeaders(Mapping[str, str]):
    """Headers kept as the JSON text they were stored as, parsed only when read.

    A relay moves envelopes from a database to a broker, where the headers
    are JSON text on both sides: this spares it a parse and a re-encoding.
    """

    __slots__ = ("_parsed", "json")

    def __init__(self, text: str) -> None:
        self.json = text
        self._parsed: dict[str, str] | None = None

    def _read(self) -> dict[str, str]:
        if self._parsed is None:
            self._parsed = loads(self.json)
        return self._parsed

    def __getitem__(self, name: str) -> str:
        return self._read()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())

    def __bool__(self) -> bool:  # without a parse: an empty object is all "{}"
        if self._parsed is not None:
            return bool(self._parsed)
        return self.json.replace(" ", "") != "{}"

    def __eq__(self, other: object) -> bool:
        return self._read() == other if isinstance(other, Mapping) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a mapping, as a dict is

    def __repr__(self) -> str:
        return repr(self._read())
