"""`Relay`: outbox rows appended to the engine, then marked published.

Per batch: claim rows (a lease), append them to the engine stream by stream
in their order, mark each stream's rows published once its append returned.
The known window: a relay stopped after an append and before its mark (a
crash, a cancellation) leaves rows the outbox still holds as unpublished,
which are appended again later.  The envelope id is the same, so consumers
with the inbox absorb the duplicate.

Order is kept per stream for one relay.  Several relays on one outbox share
the work safely but may append two batches of one stream in either order:
run one relay where per-stream order matters.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import anyio

from ._engine import Engine
from ._envelope import Envelope
from ._outbox import OutboxError, OutboxRow, OutboxStore

__all__ = ["Relay"]

logger = logging.getLogger("mediator.transports")

_SHOWN = 5  # event ids named in one log line


def _backoff(failures: int) -> float:
    """0.1 s after the first failure, doubled after each one."""
    return 0.1 * 2.0 ** min(failures - 1, 32)


class Relay:
    """Moves events from an outbox to an engine, until cancelled.

    Args:
        store: the outbox (`SqliteOutbox`, or any `OutboxStore`).
        engine: where the events go (`MemoryEngine`, the Redis engine, ...).
        relay_id: this relay's name in the claims; unique per running relay
            (default: host, process id and a random suffix).
        batch: rows claimed at once.
        lease: seconds a claim lasts: a crashed relay's rows are taken over
            after it.  Keep it well above the time one batch takes to append.
        poll: seconds to wait for new rows when there are none (``wake()``
            ends the wait early).
        retention: how long published rows stay (seconds or a timedelta).
        prune_every: seconds between prunes.
        backoff: seconds to wait after the n-th engine failure in a row
            (default 0.1 s, doubled each time), capped by ``backoff_cap``.
    """

    def __init__(
        self,
        store: OutboxStore,
        engine: Engine,
        *,
        relay_id: str | None = None,
        batch: int = 100,
        lease: float = 30.0,
        poll: float = 0.5,
        retention: float | timedelta = timedelta(days=7),
        prune_every: float = 600.0,
        backoff: Callable[[int], float] = _backoff,
        backoff_cap: float = 30.0,
    ) -> None:
        where = "Relay()"
        name: object = relay_id  # checked, whatever typed
        if name is not None and (not isinstance(name, str) or not name):
            raise OutboxError(where, "option", option="relay_id", value=relay_id)
        count: object = batch
        if isinstance(count, bool) or not isinstance(count, int) or batch < 1:
            raise OutboxError(where, "option", option="batch", value=batch)
        if not callable(backoff):
            raise OutboxError(where, "option", option="backoff", value=backoff)
        if isinstance(retention, timedelta):
            retention = retention.total_seconds()
        seconds: dict[str, object] = {
            "lease": lease,
            "poll": poll,
            "retention": retention,
            "prune_every": prune_every,
            "backoff_cap": backoff_cap,
        }
        for option, value in seconds.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
                or (option == "lease" and value == 0)
            ):
                raise OutboxError(where, "option", option=option, value=value)
        self.store = store
        self.engine = engine
        self.relay_id = relay_id or (f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self._batch = batch
        self._lease = float(lease)
        self._poll = float(poll)
        self._retention = timedelta(seconds=retention)
        self._prune_every = float(prune_every)
        self._backoff = backoff
        self._backoff_cap = float(backoff_cap)
        self._woken = False
        self._wakeup: anyio.Event | None = None

    def __repr__(self) -> str:
        return f"Relay({self.store!r}, {self.engine!r}, relay_id={self.relay_id!r})"

    def wake(self) -> None:
        """End the current poll wait: a producer in this process just committed rows."""
        self._woken = True
        if self._wakeup is not None:
            self._wakeup.set()

    async def run(self) -> None:
        """Relay until cancelled; engine and store errors are logged and retried with backoff."""
        failures = 0
        pruned_at = -math.inf
        while True:
            if anyio.current_time() - pruned_at >= self._prune_every:
                try:
                    await self.prune()
                except Exception as error:
                    logger.warning(
                        "Relay %s could not prune the outbox (%s: %s); trying again later",
                        self.relay_id,
                        type(error).__name__,
                        error,
                    )
                pruned_at = anyio.current_time()
            try:
                sent = await self._run_batches(pruned_at + self._prune_every)
            except Exception as error:
                failures += 1
                delay = min(self._backoff_cap, self._backoff(failures))
                logger.warning(
                    "Relay %s failed %s time(s) in a row (%s: %s); retrying in %.2f s",
                    self.relay_id,
                    failures,
                    type(error).__name__,
                    error,
                    delay,
                )
                await anyio.sleep(delay)
                continue
            failures = 0
            if sent == 0 and not self._woken:
                self._wakeup = anyio.Event()
                with anyio.move_on_after(self._poll):
                    await self._wakeup.wait()
                self._wakeup = None
            self._woken = False

    async def run_once(self) -> int:
        """Relay one batch; returns how many rows it appended (0: none was waiting).

        If the engine fails, or the call is cancelled, the rows not yet marked
        are released, for this or another relay to take at once, and the error
        propagates.
        """
        rows = await self.store.claim(self.relay_id, self._batch, self._lease)
        return await self._send(rows) if rows else 0

    async def _run_batches(self, until: float) -> int:
        """Batches back to back, each full one's successor claimed while it is appended.

        The claim (a database write) and the append (a network call) overlap,
        and order holds: a batch is appended only after the one before it.
        Rows claimed ahead are released if the append fails or is cancelled.
        Stops after a batch that was not full, or at ``until`` (a prune is due).
        """
        rows = await self.store.claim(self.relay_id, self._batch, self._lease)
        sent = 0
        while rows:
            ahead = _Ahead()
            failed: Exception | None = None
            try:
                async with anyio.create_task_group() as tasks:
                    if len(rows) == self._batch and anyio.current_time() < until:
                        tasks.start_soon(self._claim_ahead, ahead)
                    try:
                        sent += await self._send(rows)
                    except Exception as error:  # raised below, once the claim ahead is done
                        failed = error
            except BaseException:  # cancelled: what was claimed ahead goes back at once
                await self._release([row.seq for row in ahead.rows])
                raise
            if failed is not None:
                await self._release([row.seq for row in ahead.rows])
                raise failed
            if ahead.failed is not None:  # this batch went out; the next could not be claimed
                raise ahead.failed
            rows = ahead.rows
        return sent

    async def _claim_ahead(self, ahead: _Ahead) -> None:
        # Shielded: a claim cut short would leave its rows leased, unsent, until the lease ends.
        with anyio.CancelScope(shield=True):
            try:
                ahead.rows = await self.store.claim(self.relay_id, self._batch, self._lease)
            except Exception as error:  # the current batch is sent first; then this is raised
                ahead.failed = error

    async def _send(self, rows: list[OutboxRow]) -> int:
        """Append ``rows`` stream by stream, marking each stream's once appended."""
        streams: dict[str, list[OutboxRow]] = {}
        for row in rows:  # claimed in seq order: each stream's list keeps it
            streams.setdefault(row.stream, []).append(row)
        left = [row.seq for row in rows]
        sent = 0
        try:
            for stream, group in streams.items():
                envelopes = [row.envelope for row in group]
                try:
                    await self.engine.append(stream, envelopes)
                except Exception as error:
                    logger.warning(
                        "Relay %s could not append %s event(s) to %r (%s: %s): %s; "
                        "they stay in the outbox",
                        self.relay_id,
                        len(envelopes),
                        stream,
                        type(error).__name__,
                        error,
                        _show(envelopes),
                        extra={"event_ids": [e.id for e in envelopes]},
                    )
                    raise
                seqs = [row.seq for row in group]
                sent += len(seqs)
                marked = await self.store.mark_published(self.relay_id, seqs)
                done = set(seqs)  # this stream's rows, wherever they were in the batch
                left = [seq for seq in left if seq not in done]
                if marked < len(seqs):
                    logger.warning(
                        "Relay %s: %s of %s event(s) appended to %r were claimed by another "
                        "relay after this one's lease (%s s) expired; they will be appended "
                        "again (duplicates): %s",
                        self.relay_id,
                        len(seqs) - marked,
                        len(seqs),
                        stream,
                        self._lease,
                        _show(envelopes),
                    )
        except BaseException:
            await self._release(left)  # what was not marked
            raise
        return sent

    async def _release(self, seqs: list[int]) -> None:
        """Give rows back for any relay to take at once (shielded: also when cancelled)."""
        if not seqs:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._lease):
            try:
                await self.store.release(self.relay_id, seqs)
            except Exception as error:
                logger.warning(
                    "Relay %s could not release %s row(s) (%s: %s); they are taken "
                    "over when the lease expires",
                    self.relay_id,
                    len(seqs),
                    type(error).__name__,
                    error,
                )

    async def prune(self) -> int:
        """Delete the rows published longer than ``retention`` ago; returns how many."""
        pruned = await self.store.prune(datetime.now(UTC) - self._retention)
        if pruned:
            logger.info("Relay %s pruned %s published row(s)", self.relay_id, pruned)
        return pruned


class _Ahead:
    """The batch claimed while the one before it is appended, or why it could not be."""

    __slots__ = ("failed", "rows")

    def __init__(self) -> None:
        self.rows: list[OutboxRow] = []
        self.failed: Exception | None = None


def _show(envelopes: list[Envelope]) -> str:
    shown = ", ".join(f"{e.id} ({e.type})" for e in envelopes[:_SHOWN])
    more = len(envelopes) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown
