"""`MemoryEngine`: a broker in a dictionary, with Redis Streams' semantics, for tests.

Streams are ordered logs; consumer groups keep a read position and a list of
pending entries (consumer, delivery count, last delivery time), exactly as
XREADGROUP, XAUTOCLAIM and XACK do.  Nothing survives the process: it is the
engine of users' tests and of the library's own, not of production.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.lowlevel

from .._errors import GroupNotFoundError
from ._engine import DeadLetter, Inbound
from ._envelope import Envelope

__all__ = ["MemoryEngine"]


@dataclass(slots=True)
class _Entry:
    entry_id: str
    envelope: Envelope
    #: Set on the entries of a ``<stream>:dead`` stream.
    dead: DeadLetter | None = None


@dataclass(slots=True)
class _Pending:
    consumer: str
    deliveries: int
    delivered_at: float


@dataclass(slots=True)
class _Group:
    #: How many entries of the stream the group has delivered (XREADGROUP's last-delivered id).
    position: int = 0
    #: By entry id, in id order: reads deliver in id order and claims update in place.
    pending: dict[str, _Pending] = field(default_factory=dict)


@dataclass(slots=True)
class _Stream:
    entries: list[_Entry] = field(default_factory=list)
    by_id: dict[str, _Entry] = field(default_factory=dict)
    groups: dict[str, _Group] = field(default_factory=dict)


class MemoryEngine:
    """An `Engine` in memory: what a broker does, minus the network and the durability.

    Entry ids are per-stream counters, zero-padded to 16 digits
    (``"0000000000000001"``), so they sort in append order as strings.
    ``clock`` (seconds, default `time.monotonic`) dates deliveries for
    `claim`'s idle times: a test passes a fake one and advances it instead of
    sleeping.  A crashed consumer is one that reads and never acks.

    All methods run on the caller's event loop (asyncio or trio) and are
    atomic: each checkpoints first, then does all its work without yielding,
    so a cancelled call has done nothing.  Not thread-safe: use one event loop.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._streams: dict[str, _Stream] = {}
        self._appended: anyio.Event | None = None  # made by the first waiter, set by appends
        self._failure: BaseException | None = None

    def __repr__(self) -> str:
        return f"<MemoryEngine streams={sorted(self._streams)}>"

    # -- test controls ------------------------------------------------------------------

    def entries(self, stream: str) -> list[tuple[str, Envelope]]:
        """The stream's entries as ``(entry_id, envelope)``, oldest first; ``[]`` if none."""
        found = self._streams.get(stream)
        return [] if found is None else [(e.entry_id, e.envelope) for e in found.entries]

    def fail(self, error: BaseException) -> None:
        """Make every call raise ``error`` (a `ConnectionError`, say) until `recover`.

        Simulates a broker that is down; readers blocked in `read_new` raise too.
        """
        self._failure = error
        self._wake()

    def recover(self) -> None:
        """Bring the engine back after `fail`: calls work again, on the state they left."""
        self._failure = None

    # -- the Engine protocol ------------------------------------------------------------

    async def append(self, stream: str, envelopes: Sequence[Envelope]) -> list[str]:
        await self._enter()
        return [self._append(stream, envelope).entry_id for envelope in envelopes]

    async def ensure_group(self, stream: str, group: str) -> None:
        await self._enter()
        self._streams.setdefault(stream, _Stream()).groups.setdefault(group, _Group())

    async def read_pending(
        self, stream: str, group: str, consumer: str, *, count: int, after: str | None = None
    ) -> list[Inbound]:
        await self._enter()
        return self._redeliver(stream, group, "read_pending", consumer, count, None, after)

    async def touch(self, stream: str, group: str, consumer: str, entry_ids: Sequence[str]) -> None:
        await self._enter()
        found = self._streams.get(stream)
        state = None if found is None else found.groups.get(group)
        if state is None:
            return
        now = self._clock()
        for entry_id in entry_ids:
            one = state.pending.get(entry_id)
            if one is not None:
                one.consumer = consumer
                one.delivered_at = now

    async def claim(
        self, stream: str, group: str, consumer: str, *, idle: float, count: int
    ) -> list[Inbound]:
        """Entries idle for ``idle`` seconds or more (as XAUTOCLAIM: ``idle=0`` takes all)."""
        await self._enter()
        return self._redeliver(stream, group, "claim", consumer, count, idle)

    async def read_new(
        self, streams: Sequence[str], group: str, consumer: str, *, count: int, block: float
    ) -> list[Inbound]:
        """At most ``count`` entries in all, taken from the streams in turn, each in order.

        With nothing new, waits up to ``block`` seconds (``0``: not at all) for
        an append, woken by it rather than by polling.
        """
        await self._enter()
        deadline = anyio.current_time() + block
        while True:
            taken = self._deliver(streams, group, consumer, count)
            if taken or count <= 0:
                return taken
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                return taken
            if self._appended is None:
                self._appended = anyio.Event()
            with anyio.move_on_after(remaining):
                await self._appended.wait()
            self._check()

    async def ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
        """Unknown ids, groups and streams are ignored, as XACK does."""
        await self._enter()
        self._ack(stream, group, entry_ids)

    async def dead_letter(self, inbound: Inbound, group: str, reason: str) -> None:
        """Copy to ``<stream>:dead`` and ack, in one step."""
        await self._enter()
        self._group(inbound.stream, group, "dead_letter")
        letter = DeadLetter(
            inbound.stream, inbound.entry_id, inbound.envelope, group, inbound.attempt, reason
        )
        self._append(f"{inbound.stream}:dead", inbound.envelope).dead = letter
        self._ack(inbound.stream, group, [inbound.entry_id])

    async def dead_letters(self, stream: str) -> list[DeadLetter]:
        await self._enter()
        found = self._streams.get(f"{stream}:dead")
        if found is None:
            return []
        return [entry.dead for entry in found.entries if entry.dead is not None]

    async def pending_count(self, stream: str, group: str) -> int:
        await self._enter()
        return len(self._group(stream, group, "pending_count")[1].pending)

    async def lag(self, stream: str, group: str) -> int | None:
        await self._enter()
        found, state = self._group(stream, group, "lag")
        return len(found.entries) - state.position

    # -- the steps, synchronous so that none is cancelled half-way ---------------------------

    async def _enter(self) -> None:
        await anyio.lowlevel.checkpoint()
        self._check()

    def _check(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _wake(self) -> None:
        if self._appended is not None:
            self._appended.set()
            self._appended = None

    def _append(self, stream: str, envelope: Envelope) -> _Entry:
        found = self._streams.setdefault(stream, _Stream())
        entry = _Entry(f"{len(found.entries) + 1:016d}", envelope)
        found.entries.append(entry)
        found.by_id[entry.entry_id] = entry
        self._wake()
        return entry

    def _group(self, stream: str, group: str, operation: str) -> tuple[_Stream, _Group]:
        found = self._streams.get(stream)
        if found is None or group not in found.groups:
            known = () if found is None else sorted(found.groups)
            raise GroupNotFoundError(stream, group, operation, known)
        return found, found.groups[group]

    def _ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
        found = self._streams.get(stream)
        state = None if found is None else found.groups.get(group)
        if state is not None:
            for entry_id in entry_ids:
                state.pending.pop(entry_id, None)

    def _redeliver(
        self,
        stream: str,
        group: str,
        operation: str,
        consumer: str,
        count: int,
        idle: float | None,
        after: str | None = None,
    ) -> list[Inbound]:
        # idle None: this consumer's own entries (read_pending); else anyone's idle ones (claim).
        found, state = self._group(stream, group, operation)
        now = self._clock()
        taken: list[Inbound] = []
        for entry_id, one in state.pending.items():
            if len(taken) >= count:
                break
            if after is not None and entry_id <= after:  # ids sort as strings
                continue
            if one.consumer == consumer if idle is None else now - one.delivered_at >= idle:
                one.consumer = consumer
                one.deliveries += 1
                one.delivered_at = now
                envelope = found.by_id[entry_id].envelope
                taken.append(Inbound(stream, entry_id, envelope, one.deliveries))
        return taken

    def _deliver(
        self, streams: Sequence[str], group: str, consumer: str, count: int
    ) -> list[Inbound]:
        # Check every group first: an unknown one fails the call before anything is delivered.
        targets = [(stream, *self._group(stream, group, "read_new")) for stream in streams]
        now = self._clock()
        taken: list[Inbound] = []
        while len(taken) < count:
            before = len(taken)
            for stream, found, state in targets:
                if len(taken) >= count:
                    break
                if state.position < len(found.entries):
                    entry = found.entries[state.position]
                    state.position += 1
                    state.pending[entry.entry_id] = _Pending(consumer, 1, now)
                    taken.append(Inbound(stream, entry.entry_id, entry.envelope, 1))
            if len(taken) == before:
                break
        return taken
