"""`Worker`: a consumer group's entries turned back into ``bus.publish`` calls.

The worker owns the reading order and the ack decision; the engine only
offers the primitives (`mediator.transports.Engine`).  Per loop:

1. once, at start: this consumer's own pending entries (a restarted replica
   with the same name resumes its work at once);
2. entries pending longer than ``claim_after`` with any consumer (the work of
   a dead replica), looked for every ``claim_after / 10`` seconds (1 s at most);
3. new entries, waiting at most ``block`` seconds, so that stopping is prompt.

An entry is acked only after every handler of its event finished; a failure
leaves it pending, to come back after ``claim_after``, until its attempts
reach ``max_deliveries`` and it goes to the dead-letter stream.  An entry
that cannot be decoded goes there at once.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from .._errors import ConfigurationError, GroupNotFoundError, PublishError
from ._context import Settle, enter_commits, enter_delivery, leave_commits, leave_delivery
from ._engine import Engine, Inbound
from ._frozen import builder
from ._handoff import Handoff

if TYPE_CHECKING:
    from .._event_bus import LocalEventBus
    from ._codec_protocol import Codec

__all__ = ["Delivery", "Worker", "WorkerStats"]

#: An entry for a handler task, the event to wait for first, and the one to set when done.
_Job = tuple[Inbound, "anyio.Event | None", "anyio.Event | None"]

logger = logging.getLogger("mediator.transports")

#: Reading again after an engine error: the first wait, doubled each time, up to the cap.
_BACKOFF_BASE = 0.1
_BACKOFF_CAP = 5.0
#: Seconds between two questions to the engine about the lag.
_LAG_EVERY = 1.0


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a handler that declares ``delivery: Delivery`` learns about the entry it runs for."""

    #: The envelope's id: the same on every delivery of the event, the inbox's key.
    event_id: str
    #: The engine's id of the entry.
    entry_id: str
    #: 1 on the first delivery to this group, then 2, ...
    attempt: int
    stream: str
    group: str
    consumer: str
    type: str
    version: int
    occurred_at: datetime
    headers: Mapping[str, str]


_new_delivery = builder(Delivery)


@dataclass(slots=True)
class WorkerStats:
    """Counters since the worker started (``worker.stats()`` returns a copy)."""

    #: Entries handed to the handlers (redeliveries included).
    delivered: int = 0
    acked: int = 0
    #: Deliveries whose handlers failed (each is retried, or dead-lettered at the last attempt).
    failed: int = 0
    #: Deliveries after the first of an entry: a retry, or a dead consumer's entry taken over.
    retried: int = 0
    #: Entries taken over from consumers gone quiet (``claim_after``).
    claimed: int = 0
    dead_lettered: int = 0
    in_flight: int = 0
    #: Entries of the streams not read by the group yet, as of the last second
    #: or so; None while the engine has not told (or cannot tell).
    lag: int | None = None


class Worker:
    """Reads ``streams`` as ``consumer`` of ``group`` and publishes each event to ``bus``.

    Args:
        engine: where the entries are (`MemoryEngine`, the Redis engine, ...).
        codec: decodes the payloads back into events.
        bus: the application's `LocalEventBus`; its strategy must wait for its
            handlers (``"sequential"`` or ``"concurrent"``), since the entry is
            acked once they are done.
        streams: one stream name or several.
        group: the consumer group: one per subscribing service.
        consumer: this replica's stable name (default: host and process id);
            a replica restarted with the same name resumes its pending entries.
        batch: entries fetched per read.
        block: seconds a read waits for new entries: how prompt stopping is.
        claim_after: seconds after which another consumer's pending entry is
            taken over (the redelivery delay of a failed entry, too).
        max_deliveries: attempts before an entry goes to ``<stream>:dead``.
        max_in_flight: events handled at once.
        grace: seconds in-flight handlers get to finish when the worker stops.
        kwargs: keyword arguments passed to every ``bus.publish`` (a session
            factory, settings); handlers also get ``delivery`` if they declare it.
    """

    def __init__(
        self,
        engine: Engine,
        codec: Codec,
        bus: LocalEventBus,
        *,
        streams: str | Sequence[str],
        group: str,
        consumer: str | None = None,
        batch: int = 100,
        block: float = 1.0,
        claim_after: float = 30.0,
        max_deliveries: int = 5,
        max_in_flight: int = 16,
        grace: float = 10.0,
        kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        where = "Worker()"
        if bus.strategy == "background":
            raise ConfigurationError(where, "worker-background", option="bus", value=bus)
        names: tuple[object, ...] = (streams,) if isinstance(streams, str) else tuple(streams)
        if not names or not all(isinstance(name, str) and name for name in names):
            raise ConfigurationError(where, "worker-streams", option="streams", value=streams)
        counts: dict[str, object] = {
            "batch": batch,
            "max_deliveries": max_deliveries,
            "max_in_flight": max_in_flight,
        }
        for option, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(where, "worker-count", option=option, value=value)
        given: tuple[object, object] = (group, consumer)  # checked, whatever typed
        if not isinstance(given[0], str) or not group:
            raise ConfigurationError(where, "worker-name", option="group", value=group)
        if given[1] is not None and (not isinstance(given[1], str) or not consumer):
            raise ConfigurationError(where, "worker-name", option="consumer", value=consumer)
        if not callable(getattr(codec, "decode", None)):
            raise ConfigurationError(where, "worker-codec", option="codec", value=codec)
        if kwargs is not None and "delivery" in kwargs:
            raise ConfigurationError(where, "worker-kwargs", option="kwargs", value=kwargs)
        seconds: dict[str, object] = {"block": block, "claim_after": claim_after, "grace": grace}
        for option, value in seconds.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigurationError(where, "worker-seconds", option=option, value=value)
        if not claim_after:
            raise ConfigurationError(
                where, "worker-claim-after", option="claim_after", value=claim_after
            )
        check = getattr(codec, "check", None)
        if callable(check):  # JsonCodec: a field type it cannot handle fails here, at set-up
            check()
        self.engine = engine
        self.codec = codec
        self.bus = bus
        self.streams: tuple[str, ...] = names  # type: ignore[assignment] # checked above
        self.group = group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._batch = batch
        self._block = block
        self._claim_after = claim_after
        self._max_deliveries = max_deliveries
        self._max_in_flight = max_in_flight
        self._grace = grace
        self._kwargs = dict(kwargs or {})
        self._stats = WorkerStats()
        self._scopes: set[anyio.CancelScope] = set()
        #: (stream, entry id) of the entries being handled: a claim that returns one is ignored.
        self._handling: dict[tuple[str, str], float] = {}  # -> when it was handed over
        self._next_lag = -math.inf
        self._next_claim = -math.inf
        #: Seconds between two looks for idle entries: an entry idle past claim_after
        #: is taken over within claim_after * 1.1 (and at most a second later).
        self._claim_every = min(claim_after / 10, 1.0)
        self._stopping = False
        self._running = False
        self._servers = 0
        self._servers_done = anyio.Event()
        #: Entries handled and not yet acked, per stream, and whether an ack call is under way.
        self._unacked: dict[str, list[str]] = {}
        self._queued: set[tuple[str, str]] = set()
        #: Entries whose ack waits for their handlers' transactions to commit (an inbox
        #: with group_commit=True leaves the commit of several handlers to the worker).
        self._settling: dict[tuple[str, str], list[Settle]] = {}
        #: Those left by the handlers of a delivery that failed or was stopped: to commit
        #: at once, with nothing to ack (the entry comes back).
        self._loose: dict[Settle, None] = {}
        #: (stream, partition key) -> set when the latest entry handed over with that key is done.
        self._last_of_key: dict[tuple[str, str], anyio.Event] = {}
        self._acking = False

    @property
    def grace(self) -> float:
        """Seconds the events in flight get to finish when the worker stops."""
        return self._grace

    def stats(self) -> WorkerStats:
        """The counters so far (a copy)."""
        return copy.copy(self._stats)

    def __repr__(self) -> str:
        return (
            f"Worker(streams={list(self.streams)}, group={self.group!r}, "
            f"consumer={self.consumer!r})"
        )

    # -- running ------------------------------------------------------------------------

    async def run(self) -> None:
        """Consume until cancelled; then let in-flight events finish within ``grace``.

        Those that finish are acked; the others stay pending, for this consumer
        after a restart or for another one after ``claim_after``.

        ``max_in_flight`` handler tasks take the entries from a buffer of one
        batch, which the reading loop fills: the next read goes out while the
        tasks work through a batch, and waits while the buffer is full, so a
        worker holds at most ``batch + max_in_flight`` entries.  Acks are sent
        together: the entries that finish alongside, or while the previous ack
        is on its way.
        """
        if self._running:
            raise ConfigurationError("Worker.run()", "worker-running", option="self", value=self)
        self._running = True
        try:
            await self._run()
        finally:
            self._running = False

    async def _run(self) -> None:
        # A buffer of a batch: a handler task that finishes one entry takes the next
        # without waiting for the reader, and the reader reads again while they work.
        jobs = Handoff[_Job](max(self._max_in_flight, self._batch))
        self._stopping = False
        # A worker run again starts clean: what a stopped run held is pending in the engine.
        self._handling.clear()
        self._last_of_key.clear()
        self._queued.clear()
        # A stopped run's commits: those of entries still to be acked stay with them (the
        # next flush acks an entry only if its group committed), the others are loose.
        unacked = {(stream, i) for stream, ids in self._unacked.items() for i in ids}
        for key, commits in list(self._settling.items()):
            if key not in unacked:
                self._loose.update(dict.fromkeys(commits))
                del self._settling[key]
        self._next_claim = -math.inf
        self._servers = self._max_in_flight
        self._servers_done = anyio.Event()
        async with anyio.create_task_group() as tasks:
            for _ in range(self._max_in_flight):
                tasks.start_soon(self._serve, jobs)
            try:
                try:
                    await self._read(jobs)
                finally:
                    jobs.close()  # once stopping, what is buffered stays pending
            finally:
                with anyio.CancelScope(shield=True):
                    await self._drain()

    async def _read(self, jobs: Handoff[_Job]) -> None:
        """Read until cancelled; an engine that fails is asked again after a capped backoff.

        Set-up (the groups, this consumer's own pending entries) is part of the
        loop: a worker started while the broker is still starting waits for it,
        and a group that was lost (a flushed database) is made again.
        """
        ready = False
        failures = 0
        while True:
            try:
                if not ready:
                    await self._set_up(jobs)
                    ready = True
                await self._fetch(jobs)
            except Exception as error:  # the engine is down: wait, then read again
                if isinstance(error, GroupNotFoundError):
                    ready = False  # made again, and this consumer's pending entries read again
                failures += 1
                delay = min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (failures - 1))
                logger.warning(
                    "Worker %s could not read %s (%s: %s); retrying in %.1f s",
                    self.consumer,
                    ", ".join(self.streams),
                    type(error).__name__,
                    error,
                    delay,
                )
                await anyio.sleep(delay)
            else:
                failures = 0

    async def _set_up(self, jobs: Handoff[_Job]) -> None:
        """The groups, then this consumer's own pending entries, each once, page by page."""
        for stream in self.streams:
            await self.engine.ensure_group(stream, self.group)
        for stream in self.streams:
            after: str | None = None
            while entries := await self.engine.read_pending(
                stream, self.group, self.consumer, count=self._batch, after=after
            ):
                after = entries[-1].entry_id
                await self._hand_over(jobs, entries)
                if len(entries) < self._batch:
                    break

    async def _fetch(self, jobs: Handoff[_Job]) -> None:
        """One round: the entries of consumers gone quiet, then new ones."""
        if anyio.current_time() >= self._next_claim:
            await self._claim(jobs)
        entries = await self.engine.read_new(
            self.streams, self.group, self.consumer, count=self._batch, block=self._block
        )
        await self._hand_over(jobs, entries)
        now = anyio.current_time()
        if now >= self._next_lag:
            self._next_lag = now + _LAG_EVERY
            self._stats.lag = await self._lag()

    async def _claim(self, jobs: Handoff[_Job]) -> None:
        """The entries idle past ``claim_after``: looked for a few times per ``claim_after``.

        Not on every read: each look is a command, and an entry turns idle only
        ``claim_after`` seconds after its delivery.  A full batch claimed means
        there may be more: the next round looks again.
        """
        await self._touch()  # before the claims: an entry being handled is not idle
        full = False
        for stream in self.streams:
            claimed = await self.engine.claim(
                stream, self.group, self.consumer, idle=self._claim_after, count=self._batch
            )
            full = full or len(claimed) >= self._batch
            claimed = [e for e in claimed if (e.stream, e.entry_id) not in self._handling]
            self._stats.claimed += len(claimed)
            for inbound in claimed:
                logger.info(
                    "Claimed event %s (%s) of %s after %s deliveries",
                    inbound.envelope.id,
                    inbound.envelope.type,
                    inbound.stream,
                    inbound.attempt - 1,
                )
            await self._hand_over(jobs, claimed)
        self._next_claim = -math.inf if full else anyio.current_time() + self._claim_every

    async def _touch(self) -> None:
        """Keep the entries being handled from looking idle: no claim takes them over.

        Without it, a handler slower than ``claim_after`` would see its entry
        claimed, by this worker (each claim counts a delivery) or another replica
        (which would handle it at the same time).
        """
        # Only those handed over a while ago: a quick handler's entry needs no call.
        since = anyio.current_time() - self._claim_after / 3
        by_stream: dict[str, list[str]] = {}
        for (stream, entry_id), started in self._handling.items():
            if started <= since:
                by_stream.setdefault(stream, []).append(entry_id)
        for stream, entry_ids in by_stream.items():
            await self.engine.touch(stream, self.group, self.consumer, entry_ids)

    async def _lag(self) -> int | None:
        total = 0
        for stream in self.streams:
            lag = await self.engine.lag(stream, self.group)
            if lag is None:
                return None
            total += lag
        return total

    async def _hand_over(self, jobs: Handoff[_Job], entries: Sequence[Inbound]) -> None:
        if not entries:
            return
        now = anyio.current_time()  # once: asking the loop costs more than the rest here
        for inbound in entries:
            key = (inbound.stream, inbound.entry_id)
            if key in self._handling:  # claimed back while still being handled here
                continue
            self._handling[key] = now  # before a claim can return it again
            job = self._job(inbound)
            try:
                if not jobs.offer(job):  # all busy, buffer full: reading waits (backpressure)
                    await jobs.put(job)
            except BaseException:  # stopped first: the entry stays pending
                self._handling.pop(key, None)
                self._finished(job)
                raise

    def _job(self, inbound: Inbound) -> _Job:
        """The entry, and for a partition key the event its previous entry sets when done."""
        if inbound.envelope.key is None:
            return inbound, None, None
        key = (inbound.stream, inbound.envelope.key)
        after = self._last_of_key.get(key)
        done = self._last_of_key[key] = anyio.Event()
        return inbound, after, done

    def _finished(self, job: _Job) -> None:
        inbound, _, done = job
        key = inbound.envelope.key
        if done is not None and key is not None:
            done.set()
            if self._last_of_key.get((inbound.stream, key)) is done:
                del self._last_of_key[(inbound.stream, key)]

    async def _serve(self, jobs: Handoff[_Job]) -> None:
        """One handler task: entries one after the other, until reading stops."""
        # Shielded: stopping the worker does not cut a handler short; _drain does, after grace.
        with anyio.CancelScope(shield=True) as scope:
            self._scopes.add(scope)
            try:
                while not self._stopping:  # once stopping, what is buffered stays pending
                    if self._loose:
                        await self._settle_loose()
                    job = jobs.take()  # buffered: no trip through the loop
                    if job is None:
                        if self._settling:  # nothing to handle: no reason to keep them open
                            await self._settle_pending()
                        if not await jobs.wait():
                            break
                        continue
                    inbound, after, _ = job
                    self._stats.in_flight += 1
                    try:
                        if after is not None:  # the key's previous entry first: order per key
                            if self._settling and not after.is_set():  # perhaps a long wait
                                await self._settle_pending()
                            await after.wait()
                        await self._process(inbound)
                    except anyio.get_cancelled_exc_class():
                        if scope.cancel_called:  # the drain stopped it: the entry stays pending
                            raise
                        # Not this worker's doing: a handler awaited something cancelled
                        # elsewhere.  A failure of the handler, not the end of this task.
                        self._stats.failed += 1
                        logger.error(
                            "Event %s (%s) of %s: a handler raised a cancellation while the "
                            "worker was not stopping; the entry stays pending and comes back "
                            "after %s s",
                            inbound.envelope.id,
                            inbound.envelope.type,
                            inbound.stream,
                            self._claim_after,
                            exc_info=True,
                        )
                    except Exception:  # the engine failed to take a dead letter or an ack
                        logger.exception(
                            "Event %s (%s) of %s stays pending: the engine failed",
                            inbound.envelope.id,
                            inbound.envelope.type,
                            inbound.stream,
                        )
                    finally:
                        self._stats.in_flight -= 1
                        self._finished(job)
                        key = (inbound.stream, inbound.entry_id)
                        if key not in self._queued:  # else the ack's flush lets it go
                            self._handling.pop(key, None)
            finally:
                self._scopes.discard(scope)
                self._servers -= 1
                if not self._servers:
                    self._servers_done.set()

    async def _drain(self) -> None:
        """Wait up to ``grace`` for the in-flight events, stop the rest (left pending), ack."""
        self._stopping = True
        with anyio.move_on_after(self._grace):
            await self._servers_done.wait()
        for scope in list(self._scopes):
            scope.cancel()
        await self._servers_done.wait()
        with anyio.move_on_after(max(self._grace, 1.0)):  # the handler tasks are done: no wait
            await self._settle_pending()
        with anyio.move_on_after(max(self._grace, 1.0)):  # the engine may be down
            await self._flush_acks()

    async def _ack(self, stream: str, entry_id: str) -> None:
        """Ack soon, in one call with the entries finishing alongside.

        Those that finish while an ack call is on its way go with the next one;
        and before a call, the loop turns as long as more entries finish in
        each turn (up to ``batch``): a command costs Redis clients far more
        than an id in it.
        """
        self._unacked.setdefault(stream, []).append(entry_id)
        if self._acking:
            self._queued.add((stream, entry_id))  # a claim must not return it before its ack
        else:
            await self._flush_acks(gather=True)

    async def _flush_acks(self, *, gather: bool = False) -> None:
        self._acking = True
        try:
            if gather:  # the handlers finishing alongside join this ack: one call, not many
                self._queued.update((s, i) for s, ids in self._unacked.items() for i in ids)
                waiting = sum(map(len, self._unacked.values()))
                while waiting < self._batch:
                    await anyio.lowlevel.checkpoint()
                    now_waiting = sum(map(len, self._unacked.values()))
                    if now_waiting == waiting:  # nobody finished during that turn
                        break
                    waiting = now_waiting
            while self._unacked:
                batch, self._unacked = self._unacked, {}
                while batch:
                    stream, entry_ids = next(iter(batch.items()))
                    try:
                        if self._settling:  # the transactions first: an ack is for good
                            entry_ids = batch[stream] = await self._settle(stream, entry_ids)
                        if entry_ids:
                            await self.engine.ack(stream, self.group, entry_ids)
                    except Exception as error:
                        # Handled, not acked: they come back once more (the inbox absorbs them).
                        logger.warning(
                            "Worker %s could not ack %s entries of %s (%s: %s); they will be "
                            "delivered again",
                            self.consumer,
                            len(entry_ids),
                            stream,
                            type(error).__name__,
                            error,
                        )
                    except BaseException:  # cancelled: what is left goes with the next flush
                        for left, ids in batch.items():
                            self._unacked.setdefault(left, []).extend(ids)
                        raise
                    else:
                        self._stats.acked += len(entry_ids)
                    del batch[stream]
                    for entry_id in entry_ids:
                        self._queued.discard((stream, entry_id))
                        self._handling.pop((stream, entry_id), None)
        finally:
            self._acking = False

    async def _settle(self, stream: str, entry_ids: list[str]) -> list[str]:
        """The entries whose transactions committed (now, if they had not); the others,
        whose effect is gone, stay pending and come back."""
        outcomes: dict[Settle, BaseException | None] = {}
        kept: list[str] = []
        lost: dict[Settle, list[str]] = {}
        for entry_id in entry_ids:
            commits = self._settling.get((stream, entry_id))
            if commits is None:
                kept.append(entry_id)
                continue
            for commit in commits:
                if commit not in outcomes:
                    outcomes[commit] = await commit.settle()
                if outcomes[commit] is not None:
                    lost.setdefault(commit, []).append(entry_id)
                    break
            else:
                kept.append(entry_id)
        for entry_id in entry_ids:  # only now: cancelled above, they are settled next time
            self._settling.pop((stream, entry_id), None)
        for commit, ids in lost.items():
            failure = outcomes[commit]
            self._stats.failed += len(ids)
            for entry_id in ids:
                self._queued.discard((stream, entry_id))
                self._handling.pop((stream, entry_id), None)
            logger.warning(
                "Worker %s: %s handled entries of %s stay pending, their transaction did not "
                "commit (%s: %s); they come back after %s s",
                self.consumer,
                len(ids),
                stream,
                type(failure).__name__,
                failure,
                self._claim_after,
            )
        return kept

    async def _settle_pending(self) -> None:
        """Commit what the handlers left open (the acks of their entries still to come)."""
        await self._settle_loose()
        await _settle_each([c for commits in list(self._settling.values()) for c in commits])

    async def _settle_loose(self) -> None:
        """Commit what the handlers of failed or stopped deliveries left open."""
        while self._loose:
            commit = next(iter(self._loose))
            await commit.settle()
            self._loose.pop(commit, None)  # only now: cancelled above, it is settled next time

    async def _process(self, inbound: Inbound) -> None:
        envelope = inbound.envelope
        self._stats.delivered += 1
        if inbound.attempt > 1:
            self._stats.retried += 1
        if inbound.attempt > self._max_deliveries:
            await self._dead_letter(
                inbound, f"delivered {inbound.attempt - 1} times without being acked"
            )
            return
        try:
            event = self.codec.decode(envelope.type, envelope.version, envelope.payload)
        except Exception as error:
            await self._dead_letter(inbound, f"cannot be decoded: {_why(error)}")
            return
        delivery = _new_delivery(
            envelope.id,
            inbound.entry_id,
            inbound.attempt,
            inbound.stream,
            self.group,
            self.consumer,
            envelope.type,
            envelope.version,
            envelope.occurred_at,
            envelope.headers,
        )
        token = enter_delivery(delivery)  # what the events its handlers write inherit
        commits: list[Settle] = []
        deferring = enter_commits(commits)
        try:
            await self.bus.publish(event, **self._kwargs, delivery=delivery)
        except Exception as error:
            if commits:  # the handlers that succeeded keep their effect: they are not run again
                self._loose.update(dict.fromkeys(commits))
                await self._settle_loose()
            self._stats.failed += 1
            if inbound.attempt >= self._max_deliveries:
                await self._dead_letter(inbound, f"failed {inbound.attempt} times: {_why(error)}")
                return
            logger.warning(
                "Event %s (%s) of %s failed on attempt %s of %s; it stays pending and comes "
                "back after %s s",
                envelope.id,
                envelope.type,
                inbound.stream,
                inbound.attempt,
                self._max_deliveries,
                self._claim_after,
                exc_info=(type(error), error, error.__traceback__),
            )
            return
        except BaseException:
            self._loose.update(dict.fromkeys(commits))  # stopped: committed by the next task
            raise
        finally:
            leave_commits(deferring)
            leave_delivery(token)
        if commits:
            self._settling[(inbound.stream, inbound.entry_id)] = commits
        await self._ack(inbound.stream, inbound.entry_id)

    async def _dead_letter(self, inbound: Inbound, reason: str) -> None:
        await self.engine.dead_letter(inbound, self.group, reason)
        self._stats.dead_lettered += 1
        logger.error(
            "Event %s (%s) of %s moved to %s:dead after %s deliveries: %s",
            inbound.envelope.id,
            inbound.envelope.type,
            inbound.stream,
            inbound.stream,
            inbound.attempt,
            reason,
        )


async def _settle_each(commits: list[Settle]) -> None:
    done: set[Settle] = set()
    for commit in commits:
        if commit not in done:
            done.add(commit)
            await commit.settle()


def _why(error: Exception) -> str:
    """One line: the handlers' own errors rather than the group around them."""
    if isinstance(error, PublishError):
        return "; ".join(
            f"{failure.handler.name} raised {_why(failure.exception)}" for failure in error.failures
        )
    return f"{type(error).__name__}: {error}"
