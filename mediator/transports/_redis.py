"""`RedisEngine`: the transport on Redis Streams and consumer groups.

Each `Engine` method is one Redis command or one round trip: XADD in a
pipeline, XGROUP CREATE from id ``0`` (never ``$``: a group made after the
appends still gets them), XREADGROUP with ``0`` for a consumer's own pending
entries and with ``>`` and a bounded BLOCK for new ones, XAUTOCLAIM for the
entries of consumers gone quiet, XACK, and MULTI/EXEC around XADD + XACK
for a dead letter.  Delivery counts come from XPENDING, which Redis keeps
in the pending-entries list: it survives a restart of Redis with AOF.

This module (through `mediator.transports.redis`) is the only one that
imports ``redis``, installed by ``pip install 'mediator-bus[redis]'``.  redis-py is asyncio-only:
under anyio's trio backend the engine refuses to run, with a clear error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sys
import time
import zlib
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii as _quote
from typing import Any, Literal

import anyio

from .._errors import GroupNotFoundError, MediatorError
from ._engine import DeadLetter, Inbound
from ._envelope import Envelope, headers_json
from ._frozen import builder

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.exceptions import ResponseError
except ImportError as missing:  # pragma: no cover - the extra is installed for the tests
    raise ImportError(
        "mediator.transports.redis needs redis-py: pip install 'mediator-bus[redis]'"
    ) from missing

__all__ = ["RedisEngine", "RedisEngineError", "RedisEngineProblem"]

logger = logging.getLogger("mediator.transports")

#: The envelope's fields in a stream entry (readable with redis-cli).
#: The envelope's fields in a stream entry, readable with redis-cli: its id, its type,
#: the rest of its metadata as one JSON object (version, occurred_at, key, headers,
#: content_type; one field rather than five halves the cost of packing an entry), and
#: the payload.
_ID, _TYPE, _META, _PAYLOAD = b"id", b"type", b"meta", b"payload"
#: A dead letter's own fields, beside the envelope's.
_ORIGINAL, _GROUP, _ATTEMPTS, _REASON = b"original_id", b"group", b"attempts", b"reason"
_DEFAULT_CONTENT = "application/json"
#: Envelopes appended by one script call: Redis runs a script alone, so it stays short.
_APPEND_CHUNK = 1000
#: XADD of each envelope, in one round trip and one command to pack: a pipeline of
#: XADDs costs redis-py (whose asyncio client packs commands in Python) twice as much.
_APPEND = """
local ids = {}
for i = 1, #ARGV, 4 do
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 'id', ARGV[i], 'type', ARGV[i + 1],
                             'meta', ARGV[i + 2], 'payload', ARGV[i + 3])
end
return ids
"""

_new_envelope = builder(Envelope)
_new_inbound = builder(Inbound)

RedisEngineProblem = Literal["trio", "option", "client", "partitions", "partition", "partitioned"]


class RedisEngineError(MediatorError, RuntimeError, ValueError):
    """A `RedisEngine` is set up or used wrongly.

    Attributes:
        problem: ``"trio"`` (redis-py needs asyncio), ``"option"`` (a bad
            number), ``"client"`` (both ``client`` and ``url``), ``"partitions"``
            (a bad partition count), ``"partition"`` (a partition that does not exist).
        option: the argument at fault.
        value: what it was given.
    """

    def __init__(self, problem: RedisEngineProblem, *, option: str, value: object) -> None:
        super().__init__()
        self.problem: RedisEngineProblem = problem
        self.option = option
        self.value = value
        what, tip = {
            "trio": (
                "RedisEngine runs on anyio's asyncio backend only: redis-py is asyncio-only, "
                f"and this code runs on {value}",
                "run the worker and the relay with anyio.run(main) (asyncio, the default) or "
                "`python -m mediator worker --backend asyncio`; the rest of mediator runs on trio",
            ),
            "option": (
                f"RedisEngine(): {option}={value!r} is not a positive finite number",
                "pass seconds or counts such as timeout=5.0, retries=3, trim_every=60",
            ),
            "client": (
                "RedisEngine(): pass either client= (your own redis.asyncio.Redis) or url=, "
                "not both",
                "RedisEngine(url='redis://localhost:6379/0')",
            ),
            "partitions": (
                f"RedisEngine(): partitions[{option!r}]={value!r} is not a count of 1 or more",
                "pass partitions={'orders': 8}: 'orders' is then appended to 'orders:{0}' ... "
                "'orders:{7}', chosen from each envelope's partition key",
            ),
            "partition": (
                f"RedisEngine.streams({option!r}): partition {value!r} does not exist",
                "pass partition numbers from 0 to the stream's partition count minus one",
            ),
            "partitioned": (
                f"RedisEngine.{value}({option!r}): {option!r} is split into partitions, so "
                "no Redis stream has that name: reading it would read nothing, for ever",
                f"read its partitions: Worker(engine, ..., streams=engine.streams({option!r})); "
                "only append takes the logical name",
            ),
        }[problem]
        self._say(f"{what}.", tip)


def _positive(option: str, given: float) -> float:
    value: object = given  # checked, whatever typed
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise RedisEngineError("option", option=option, value=value)
    return float(value)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisEngine:
    """An `Engine` on Redis Streams (Redis 7 or later, or Valkey).

    Args:
        url: where Redis is (``redis://host:6379/0``, ``rediss://`` for TLS);
            the default is the local server.
        client: or a ``redis.asyncio.Redis`` of your own, made with
            ``decode_responses=False`` (the engine does not close it), or a
            ``redis.asyncio.RedisCluster``: then give every stream partitions
            (``{"orders": 1}`` at least), so that a stream and its dead letters
            share a hash tag, and one slot.
        partitions: logical streams split into that many partition streams,
            ``{"orders": 8}``: appending to ``"orders"`` writes each envelope
            to ``orders:{k}`` with ``k`` chosen from its partition key, so
            order holds per key; workers read `streams` ("orders" expanded,
            or a subset of its partitions).  The hash tag ``{k}`` puts a
            partition and its dead letters on one Redis Cluster slot.
        retention: how long entries stay in a stream once every group has
            read and acked them (seconds or a timedelta; ``None``: forever).
            Trimming is approximate and never removes an entry that a group
            has not read yet or still has pending.
        trim_every: seconds between two trims of a stream, done on append.
        timeout: seconds a command waits for its connection and its reply
            (beyond its own BLOCK time): a call to a dead broker fails within
            about ``timeout * (retries + 1)`` seconds plus the backoff, and the
            relay and the worker retry with their own capped backoff.
        retries: attempts after the first for a command that lost its
            connection, with exponential backoff and jitter capped at 1 s.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: aioredis.Redis | aioredis.RedisCluster | None = None,
        partitions: Mapping[str, int] | None = None,
        retention: float | timedelta | None = timedelta(days=1),
        trim_every: float = 60.0,
        timeout: float = 5.0,
        retries: int = 3,
    ) -> None:
        _check_backend()
        if client is not None and url is not None:
            raise RedisEngineError("client", option="client", value=client)
        self._timeout = _positive("timeout", timeout)
        tries: object = retries
        if isinstance(tries, bool) or not isinstance(tries, int) or retries < 0:
            raise RedisEngineError("option", option="retries", value=retries)
        self._trim_every = _positive("trim_every", trim_every)
        if isinstance(retention, timedelta):
            retention = retention.total_seconds()
        self._retention = None if retention is None else _positive("retention", retention)
        self._partitions: dict[str, int] = {}
        for stream, count in (partitions or {}).items():
            given: object = count
            if isinstance(given, bool) or not isinstance(given, int) or count < 1:
                raise RedisEngineError("partitions", option=stream, value=count)
            self._partitions[stream] = count
        self.url = url or "redis://127.0.0.1:6379/0"
        self._own = client is None
        # redis-py's replies are loosely typed: the engine reads them as what Redis sends.
        self._client: Any = client or aioredis.Redis.from_url(
            self.url,
            decode_responses=False,
            # No per-reply timeout (it costs a timer per reply of a pipeline): each
            # engine call has one deadline instead, see _deadline.
            socket_timeout=None,
            socket_connect_timeout=self._timeout,
            retry=Retry(ExponentialWithJitterBackoff(cap=1.0, base=0.05), retries),
            health_check_interval=30,
        )
        self._append_script = self._client.register_script(_APPEND)
        self._trimmed: dict[str, float] = {}
        self._cursors: dict[tuple[str, str], bytes] = {}

    def __repr__(self) -> str:
        partitions = f", partitions={self._partitions}" if self._partitions else ""
        return f"RedisEngine({self.url!r}{partitions})"

    @property
    def client(self) -> aioredis.Redis | aioredis.RedisCluster:
        """The redis-py client, for your own commands."""
        client: aioredis.Redis | aioredis.RedisCluster = self._client
        return client

    async def aclose(self) -> None:
        """Close the connections (a client passed in is left open)."""
        if self._own:
            await self._client.aclose()

    async def __aenter__(self) -> RedisEngine:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- partitions --------------------------------------------------------------------

    def streams(self, stream: str, partitions: Sequence[int] | None = None) -> list[str]:
        """The Redis streams behind ``stream``: its partitions (``partitions`` only), or itself."""
        count = self._partitions.get(stream)
        if count is None:
            return [stream]
        chosen = range(count) if partitions is None else partitions
        for number in chosen:
            given: object = number
            if isinstance(given, bool) or not isinstance(given, int) or not 0 <= number < count:
                raise RedisEngineError("partition", option=stream, value=number)
        return [f"{stream}:{{{number}}}" for number in chosen]

    def _physical(self, stream: str, operation: str) -> None:
        if stream in self._partitions:
            raise RedisEngineError("partitioned", option=stream, value=operation)

    def partition_of(self, stream: str, envelope: Envelope) -> str:
        """The Redis stream ``envelope`` goes to: from its key (its id without one)."""
        count = self._partitions.get(stream)
        if count is None:
            return stream
        basis = envelope.key if envelope.key is not None else envelope.id
        return f"{stream}:{{{zlib.crc32(basis.encode()) % count}}}"

    # -- the Engine protocol -----------------------------------------------------------

    async def append(self, stream: str, envelopes: Sequence[Envelope]) -> list[str]:
        """One script call per partition and up to 1,000 envelopes: all its XADDs, or none.

        Each call has its own deadline: a long batch is not cut short for being long.
        """
        if not envelopes:
            return []
        by_target: dict[str, list[int]] = {}
        for index, envelope in enumerate(envelopes):
            by_target.setdefault(self.partition_of(stream, envelope), []).append(index)
        ids: list[str] = [""] * len(envelopes)
        for target, indexes in by_target.items():
            for first in range(0, len(indexes), _APPEND_CHUNK):
                chunk = indexes[first : first + _APPEND_CHUNK]
                args: list[bytes] = []
                for index in chunk:
                    args += _values(envelopes[index])
                with self._deadline():
                    added = await self._append_script(keys=[target], args=args)
                for index, entry_id in zip(chunk, added, strict=True):
                    ids[index] = _text(entry_id)
        await self._maybe_trim(set(by_target))
        return ids

    async def ensure_group(self, stream: str, group: str) -> None:
        self._physical(stream, "ensure_group")
        with self._deadline():
            try:
                await self._client.xgroup_create(stream, group, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    async def read_pending(
        self, stream: str, group: str, consumer: str, *, count: int, after: str | None = None
    ) -> list[Inbound]:
        self._physical(stream, "read_pending")
        start = "0" if after is None else after
        with self._deadline():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.xreadgroup(group, consumer, {stream: start}, count=count)
                first = "-" if after is None else f"({after}"  # exclusive, as the read is
                pipe.xpending_range(stream, group, first, "+", count, consumername=consumer)
                try:
                    read, pending = await pipe.execute()
                except ResponseError as error:
                    raise await self._no_group(error, stream, group, "read_pending") from None
            attempts = {row["message_id"]: int(row["times_delivered"]) for row in pending}
            entries = read[0][1] if read else []
            gone = [entry_id for entry_id, fields in entries if not fields]
            entries = [(entry_id, fields) for entry_id, fields in entries if fields]
            if gone:  # deleted from the stream while pending (XDEL, a trim by another tool)
                await self._client.xack(stream, group, *gone)
                logger.warning(
                    "Entries %s of %s were pending for group %s but are gone from the stream: "
                    "acked, nothing to deliver",
                    ", ".join(_text(entry_id) for entry_id in gone),
                    stream,
                    group,
                )
            return self._inbound(stream, entries, attempts)

    async def touch(self, stream: str, group: str, consumer: str, entry_ids: Sequence[str]) -> None:
        self._physical(stream, "touch")
        if not entry_ids:
            return
        with self._deadline():
            # XCLAIM ... 0 JUSTID: idle time reset, owner kept, delivery count not raised.
            await self._client.xclaim(stream, group, consumer, 0, list(entry_ids), justid=True)

    async def claim(
        self, stream: str, group: str, consumer: str, *, idle: float, count: int
    ) -> list[Inbound]:
        self._physical(stream, "claim")
        with self._deadline():
            cursor = self._cursors.get((stream, group), b"0-0")
            try:
                reply = await self._client.xautoclaim(
                    stream, group, consumer, int(idle * 1000), cursor, count=count
                )
            except ResponseError as error:
                raise await self._no_group(error, stream, group, "claim") from None
            cursor, entries = reply[0], reply[1]
            self._cursors[(stream, group)] = cursor  # "0-0" again once the whole list was scanned
            deleted = reply[2] if len(reply) > 2 else []
            if deleted:  # trimmed away while pending: Redis drops them from the list
                logger.warning(
                    "Entries %s of %s were pending for group %s but are gone from the stream "
                    "(trimmed): nothing to deliver",
                    ", ".join(_text(entry_id) for entry_id in deleted),
                    stream,
                    group,
                )
            entries = [(entry_id, fields) for entry_id, fields in entries if fields]
            if not entries:
                return []
            async with self._client.pipeline(transaction=False) as pipe:  # each entry's count
                for entry_id, _ in entries:
                    pipe.xpending_range(stream, group, entry_id, entry_id, 1)
                rows = await pipe.execute()
            attempts = {row["message_id"]: int(row["times_delivered"]) for (row,) in rows if row}
            return self._inbound(stream, entries, attempts)

    async def read_new(
        self, streams: Sequence[str], group: str, consumer: str, *, count: int, block: float
    ) -> list[Inbound]:
        for name in streams:
            self._physical(name, "read_new")
        with self._deadline(block):
            wanted = dict.fromkeys(streams, ">")
            # BLOCK 0 would wait for ever: no wait at all is no BLOCK.
            milliseconds = max(1, math.ceil(block * 1000)) if block > 0 else None
            try:
                reply = await self._client.xreadgroup(
                    group, consumer, wanted, count=count, block=milliseconds
                )
            except ResponseError as error:
                raise await self._no_group(error, None, group, "read_new", streams) from None
            taken: list[Inbound] = []
            for name, entries in reply or []:
                taken += self._inbound(_text(name), entries, {})
            return taken  # up to count per stream: every entry read is pending now, so all are kept

    async def ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
        self._physical(stream, "ack")
        with self._deadline():
            if entry_ids:
                await self._client.xack(stream, group, *entry_ids)

    async def dead_letter(self, inbound: Inbound, group: str, reason: str) -> None:
        self._physical(inbound.stream, "dead_letter")
        with self._deadline():
            fields = _fields(inbound.envelope)
            fields[_ORIGINAL] = inbound.entry_id.encode()
            fields[_GROUP] = group.encode()
            fields[_ATTEMPTS] = str(inbound.attempt).encode()
            fields[_REASON] = reason.encode()
            async with self._client.pipeline(
                transaction=True
            ) as pipe:  # MULTI/EXEC: both or neither
                pipe.xadd(f"{inbound.stream}:dead", fields)
                pipe.xack(inbound.stream, group, inbound.entry_id)
                await pipe.execute()

    async def dead_letters(self, stream: str) -> list[DeadLetter]:
        self._physical(stream, "dead_letters")
        with self._deadline():
            letters = []
            for _, fields in await self._client.xrange(f"{stream}:dead"):
                letters.append(
                    DeadLetter(
                        stream=stream,
                        entry_id=_text(fields[_ORIGINAL]),
                        envelope=_envelope(fields),
                        group=_text(fields[_GROUP]),
                        attempts=int(fields[_ATTEMPTS]),
                        reason=_text(fields[_REASON]),
                    )
                )
            return letters

    async def pending_count(self, stream: str, group: str) -> int:
        self._physical(stream, "pending_count")
        with self._deadline():
            try:
                summary = await self._client.xpending(stream, group)
            except ResponseError as error:
                raise await self._no_group(error, stream, group, "pending_count") from None
            return int(summary["pending"])

    async def lag(self, stream: str, group: str) -> int | None:
        self._physical(stream, "lag")
        with self._deadline():
            try:
                groups = await self._client.xinfo_groups(stream)
            except ResponseError as error:
                raise await self._no_group(error, stream, group, "lag") from None
            for info in groups:
                if _text(info["name"]) == group:
                    lag = info.get("lag")
                    return None if lag is None else int(lag)
            raise GroupNotFoundError(stream, group, "lag", [_text(info["name"]) for info in groups])

    # -- retention -----------------------------------------------------------------------

    async def trim(self, stream: str) -> int:
        """Trim ``stream`` to its retention, never past what a group has not read or acked.

        Returns how many entries Redis removed (approximate trimming removes
        whole nodes, so possibly none).  `append` calls it every ``trim_every``
        seconds per stream.  A stream no group reads yet is left whole: a group
        created later gets every entry.
        """
        self._physical(stream, "trim")
        with self._deadline():
            if self._retention is None:
                return 0
            floor = f"{int((time.time() - self._retention) * 1000)}-0"
            try:
                groups = await self._client.xinfo_groups(stream)
            except ResponseError:  # no such stream yet
                return 0
            if not groups:  # nobody reads it yet: a group created later must get everything
                return 0
            for info in groups:
                # Not past the group's first unread entry...
                floor = min(floor, _next_id(_text(info["last-delivered-id"])), key=_id_key)
                if int(info["pending"]):  # ...nor past its oldest pending one.
                    summary = await self._client.xpending(stream, _text(info["name"]))
                    if summary["min"] is not None:
                        floor = min(floor, _text(summary["min"]), key=_id_key)
            removed = await self._client.xtrim(stream, minid=floor, approximate=True)
            return int(removed)

    async def _maybe_trim(self, streams: set[str]) -> None:
        if self._retention is None:
            return
        now = time.monotonic()
        for stream in streams:
            if now - self._trimmed.get(stream, -math.inf) >= self._trim_every:
                self._trimmed[stream] = now
                try:
                    await self.trim(stream)
                except Exception as error:  # trimming is housekeeping: never fail an append
                    logger.warning("Could not trim %s: %s: %s", stream, type(error).__name__, error)

    # -- helpers ---------------------------------------------------------------------------

    def _deadline(self, block: float = 0.0) -> AbstractContextManager[anyio.CancelScope, None]:
        """The one deadline of an engine call: ``timeout`` seconds beyond its own BLOCK time.

        A broker that is down, or hangs, fails the call with `TimeoutError`
        within that time, whatever redis-py's retries are doing.
        """
        _check_backend()
        scope: AbstractContextManager[anyio.CancelScope, None] = anyio.fail_after(  # type: ignore[assignment] # it never swallows an error
            self._timeout + block
        )
        return scope

    def _inbound(
        self,
        stream: str,
        entries: Sequence[tuple[bytes, Mapping[bytes, bytes]]],
        attempts: Mapping[bytes, int],
    ) -> list[Inbound]:
        return [
            _new_inbound(
                stream, _text(entry_id), _read(entry_id, fields), attempts.get(entry_id, 1)
            )
            for entry_id, fields in entries
        ]

    async def _no_group(
        self,
        error: ResponseError,
        stream: str | None,
        group: str,
        operation: str,
        streams: Sequence[str] = (),
    ) -> Exception:
        """A NOGROUP reply as a `GroupNotFoundError` naming the groups the stream has."""
        if "NOGROUP" not in str(error):
            return error
        for name in [stream] if stream is not None else list(streams):
            try:
                known = [_text(info["name"]) for info in await self._client.xinfo_groups(name)]
            except ResponseError:  # the stream does not exist
                known = []
            if group not in known:
                return GroupNotFoundError(name, group, operation, known)
        return GroupNotFoundError(stream or streams[0], group, operation)


def _check_backend() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        trio = sys.modules.get("trio")
        if trio is None:  # made outside any event loop: checked again on use
            return
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            return
        raise RedisEngineError("trio", option="backend", value="trio") from None


def _values(envelope: Envelope) -> list[bytes]:
    # The meta object, written piece by piece: this runs once per event appended.
    meta = f'{{"version":{int(envelope.version)},"occurred_at":"{envelope.occurred_at.isoformat()}"'
    if envelope.key is not None:
        meta += ',"key":' + _quote(envelope.key)
    if envelope.headers:
        meta += ',"headers":' + headers_json(envelope.headers)
    if envelope.content_type != _DEFAULT_CONTENT:
        meta += ',"content_type":' + _quote(envelope.content_type)
    return [envelope.id.encode(), envelope.type.encode(), (meta + "}").encode(), envelope.payload]


def _fields(envelope: Envelope) -> dict[bytes, bytes]:
    return dict(zip((_ID, _TYPE, _META, _PAYLOAD), _values(envelope), strict=True))


def _read(entry_id: bytes, fields: Mapping[bytes, bytes]) -> Envelope:
    """The entry's envelope; for an entry that holds none, one its decoding will refuse.

    An entry written by another tool, or damaged, must not stop the group: its
    decoding fails in the worker, which dead-letters it with its fields kept.
    """
    try:
        return _envelope(fields)
    except Exception as error:
        names = ", ".join(sorted(_text(name) for name in fields)) or "none"
        raw = {_text(name): value.decode(errors="replace") for name, value in fields.items()}
        return Envelope(
            id=_text(entry_id),
            type=f"<not an envelope: {type(error).__name__}; fields {names}>",
            version=1,
            occurred_at=datetime.now(UTC),
            payload=json.dumps(raw).encode(),
        )


def _envelope(fields: Mapping[bytes, bytes]) -> Envelope:
    meta: dict[str, Any] = json.loads(fields[_META].decode())  # str: no encoding to detect
    return _new_envelope(
        fields[_ID].decode(),
        fields[_TYPE].decode(),
        meta["version"],
        datetime.fromisoformat(meta["occurred_at"]),
        bytes(fields[_PAYLOAD]),
        meta.get("key"),
        meta.get("headers") or {},
        meta.get("content_type", _DEFAULT_CONTENT),
    )


def _id_key(entry_id: str) -> tuple[int, int]:
    millis, _, sequence = entry_id.partition("-")
    return int(millis), int(sequence or 0)


def _next_id(entry_id: str) -> str:
    """The smallest id after ``entry_id``: MINID keeps entries at or above it."""
    millis, sequence = _id_key(entry_id)
    return f"{millis}-{sequence + 1}"
