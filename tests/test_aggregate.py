"""EventAggregate: stage events, publish them together inside a transaction."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from mediator import EventAggregate, LocalEventBus, PublishError
from mediator.errors import ConfigEventAggregateError
from mediator.event import EventPublish, EventPublisher


@dataclass
class Renamed:
    name: str


@dataclass
class Deleted:
    pass


class Recorder(EventPublisher):
    """A publisher whose transaction buffers events and records them on success."""

    def __init__(self) -> None:
        self.published: list[tuple[Any, dict[str, Any]]] = []
        self.transactions = 0

    async def publish(self, event: Any, /, **kwargs: Any) -> None:
        self.published.append((event, kwargs))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[EventPublish]:
        buffer = Recorder()
        yield buffer
        self.transactions += 1
        self.published.extend(buffer.published)


class User(EventAggregate):
    def rename(self, name: str) -> None:
        self.enqueue(Renamed(name), actor="admin")

    def delete(self) -> None:
        self.enqueue(Deleted())


async def test_commit_publishes_staged_events_in_order_in_one_transaction() -> None:
    user = User()
    publisher = Recorder()
    assert user.use(publisher) is user
    user.rename("ada")
    user.delete()
    assert user.staged == ((Renamed("ada"), {"actor": "admin"}), (Deleted(), {}))
    await user.commit()
    assert publisher.published == [(Renamed("ada"), {"actor": "admin"}), (Deleted(), {})]
    assert publisher.transactions == 1
    assert user.staged == ()
    await user.commit()
    assert publisher.transactions == 2
    assert len(publisher.published) == 2


async def test_cleanup_drops_staged_events() -> None:
    user = User().use(Recorder())
    user.rename("x")
    user.cleanup()
    await user.commit()
    assert user.staged == ()


async def test_commit_without_publisher_is_a_configuration_error() -> None:
    user = User()
    user.delete()
    with pytest.raises(ConfigEventAggregateError) as caught:
        await user.commit()
    assert caught.value.aggregate is user
    assert isinstance(caught.value, AssertionError)
    assert len(user.staged) == 1


async def test_with_a_local_event_bus_a_failing_handler_leaves_only_its_event_staged() -> None:
    bus = LocalEventBus()
    seen: list[Any] = []

    @bus.register
    async def on_renamed(event: Renamed, actor: str) -> None:
        seen.append((event.name, actor))

    @bus.register
    async def on_deleted(event: Deleted) -> None:
        raise RuntimeError("store down")

    user = User().use(bus)
    user.rename("grace")
    user.delete()
    with pytest.raises(PublishError):
        await user.commit()
    assert seen == [("grace", "admin")]
    assert user.staged == ((Deleted(), {}),)  # retry commit(), or cleanup()


# -- what stays staged: only what was not delivered ----------------------------


@dataclass(frozen=True)
class Numbered:
    n: int


class Numbers(EventAggregate):
    def add(self, *numbers: int) -> None:
        for n in numbers:
            self.enqueue(Numbered(n))


def numbers(aggregate: EventAggregate) -> list[int]:
    return [event.n for event, _ in aggregate.staged]


class Outbox(EventPublisher):
    """An all-or-nothing publisher: publish writes a pending row, the exit commits the rows.

    Like a database session: the transaction's exit awaits the commit, and a
    failure (of a publish, or of the commit) rolls the pending rows back.
    """

    def __init__(self) -> None:
        self.rows: list[int] = []  # durably published
        self.pending: list[int] = []
        self.commits = 0
        self.fail_publish: set[int] = set()  # numbers whose next publish fails
        self.fail_commit = 0  # how many commits fail next
        self.closing: anyio.Event | None = None  # set once an exit awaits `release`
        self.release = anyio.Event()

    async def publish(self, event: Any, /, **kwargs: Any) -> None:
        if event.n in self.fail_publish:
            self.fail_publish.discard(event.n)
            raise RuntimeError(f"cannot write {event.n}")
        self.pending.append(event.n)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[EventPublish]:
        self.pending = []
        try:
            yield self
            await self.session_commit()
        finally:
            self.pending = []  # rolled back, or already in `rows`

    async def session_commit(self) -> None:
        if self.closing is not None:
            self.closing.set()
            await self.release.wait()
        if self.fail_commit:
            self.fail_commit -= 1
            raise ConnectionError("database gone")
        self.rows += self.pending
        self.commits += 1


def counting_bus(fail_once: set[int]) -> tuple[LocalEventBus, list[int], list[int]]:
    """A bus whose handler records every attempt and every success, failing once on some."""
    bus = LocalEventBus()
    attempts: list[int] = []
    delivered: list[int] = []

    @bus.register
    async def on_numbered(event: Numbered) -> None:
        attempts.append(event.n)
        if event.n in fail_once:
            fail_once.discard(event.n)
            raise RuntimeError(f"handler failed on {event.n}")
        delivered.append(event.n)

    return bus, attempts, delivered


async def test_a_retry_after_a_failed_publish_delivers_only_what_did_not_go_out() -> None:
    bus, attempts, delivered = counting_bus(fail_once={2})
    aggregate = Numbers().use(bus)
    aggregate.add(1, 2, 3)
    with pytest.raises(PublishError):
        await aggregate.commit()
    assert attempts == [1, 2]
    assert numbers(aggregate) == [2, 3]  # the failed event first: it was not delivered
    await aggregate.commit()
    assert attempts == [1, 2, 2, 3]  # not [1, 2, 1, 2, 3]
    assert delivered == [1, 2, 3]
    assert aggregate.staged == ()


async def test_events_enqueued_after_a_failure_go_out_after_the_ones_left_staged() -> None:
    bus, attempts, delivered = counting_bus(fail_once={1})
    aggregate = Numbers().use(bus)
    aggregate.add(1, 2)
    with pytest.raises(PublishError):
        await aggregate.commit()
    aggregate.add(3)
    assert numbers(aggregate) == [1, 2, 3]
    await aggregate.commit()
    assert attempts == [1, 1, 2, 3]
    assert delivered == [1, 2, 3]


async def test_a_failed_publish_in_an_all_or_nothing_transaction_leaves_every_event_staged() -> (
    None
):
    outbox = Outbox()
    outbox.fail_publish = {2}
    aggregate = Numbers().use(outbox)
    aggregate.add(1, 2, 3)
    with pytest.raises(RuntimeError, match="cannot write 2"):
        await aggregate.commit()
    assert outbox.rows == []  # rolled back: 1 did not go out either
    assert numbers(aggregate) == [1, 2, 3]
    await aggregate.commit()
    assert outbox.rows == [1, 2, 3]
    assert outbox.commits == 1
    assert aggregate.staged == ()


async def test_a_transaction_whose_exit_fails_after_every_publish_leaves_every_event_staged() -> (
    None
):
    outbox = Outbox()
    outbox.fail_commit = 1
    aggregate = Numbers().use(outbox)
    aggregate.add(1, 2, 3)
    with pytest.raises(ConnectionError, match="database gone"):
        await aggregate.commit()
    assert outbox.rows == []
    assert numbers(aggregate) == [1, 2, 3]  # nothing was durably published
    await aggregate.commit()
    assert outbox.rows == [1, 2, 3]
    assert aggregate.staged == ()


class Forgiving(Outbox):
    """A transaction that swallows a failed publish and commits what was written before it."""

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[EventPublish]:
        self.pending = []
        with contextlib.suppress(RuntimeError):
            yield self
        await self.session_commit()


async def test_a_transaction_that_swallows_a_failed_publish_delivers_what_was_published() -> None:
    outbox = Forgiving()
    outbox.fail_publish = {2}
    aggregate = Numbers().use(outbox)
    aggregate.add(1, 2, 3)
    await aggregate.commit()
    assert outbox.rows == [1]
    assert numbers(aggregate) == [2, 3]
    await aggregate.commit()
    assert outbox.rows == [1, 2, 3]


# -- events enqueued during a commit are never dropped -------------------------


async def test_an_event_enqueued_by_a_handler_is_published_in_the_same_commit() -> None:
    bus = LocalEventBus()
    aggregate = Numbers().use(bus)
    seen: list[int] = []

    @bus.register
    async def on_numbered(event: Numbered) -> None:
        seen.append(event.n)
        if event.n < 3:
            aggregate.add(event.n * 10)

    aggregate.add(1, 2, 3)
    await aggregate.commit()
    assert seen == [1, 2, 3, 10, 20]
    assert aggregate.staged == ()


async def test_an_event_enqueued_during_publishing_joins_the_open_transaction() -> None:
    aggregate = Numbers()

    class Reacting(Outbox):
        async def publish(self, event: Any, /, **kwargs: Any) -> None:
            await super().publish(event, **kwargs)
            if event.n == 1:
                aggregate.add(4)

    outbox = Reacting()
    aggregate.use(outbox)
    aggregate.add(1, 2)
    await aggregate.commit()
    assert outbox.rows == [1, 2, 4]
    assert outbox.commits == 1
    assert aggregate.staged == ()


async def test_an_event_enqueued_while_the_transaction_exit_awaits_stays_staged() -> None:
    outbox = Outbox()
    outbox.closing = anyio.Event()
    aggregate = Numbers().use(outbox)
    aggregate.add(1, 2)
    async with anyio.create_task_group() as tg:
        tg.start_soon(aggregate.commit)
        await outbox.closing.wait()  # the exit awaits the database commit
        aggregate.add(3)
        assert numbers(aggregate) == [1, 2, 3]
        outbox.release.set()
    assert outbox.rows == [1, 2]
    assert numbers(aggregate) == [3]  # not dropped: staged for the next commit
    outbox.closing = None
    await aggregate.commit()
    assert outbox.rows == [1, 2, 3]
    assert aggregate.staged == ()


async def test_an_event_enqueued_by_the_transaction_exit_itself_stays_staged() -> None:
    aggregate = Numbers()

    class Auditing(Outbox):
        async def session_commit(self) -> None:
            if self.commits == 0:
                aggregate.add(99)  # say, an audit event raised by the commit hook
            await super().session_commit()

    outbox = Auditing()
    aggregate.use(outbox)
    aggregate.add(1)
    await aggregate.commit()
    assert outbox.rows == [1]
    assert numbers(aggregate) == [99]
    await aggregate.commit()
    assert outbox.rows == [1, 99]
    assert outbox.commits == 2


async def commit_expecting_a_connection_error(
    aggregate: EventAggregate, failures: list[BaseException]
) -> None:
    try:
        await aggregate.commit()
    except ConnectionError as error:
        failures.append(error)


async def test_a_failed_exit_restores_its_events_before_those_enqueued_while_it_awaited() -> None:
    outbox = Outbox()
    outbox.closing = anyio.Event()
    outbox.fail_commit = 1
    aggregate = Numbers().use(outbox)
    aggregate.add(1, 2)
    failures: list[BaseException] = []

    async with anyio.create_task_group() as tg:
        tg.start_soon(commit_expecting_a_connection_error, aggregate, failures)
        await outbox.closing.wait()
        aggregate.add(3)
        outbox.release.set()
    assert len(failures) == 1
    assert outbox.rows == []
    assert numbers(aggregate) == [1, 2, 3]
    outbox.closing = None
    await aggregate.commit()
    assert outbox.rows == [1, 2, 3]


# -- cancellation, cleanup(), concurrent and nested commits --------------------


async def test_a_cancelled_commit_leaves_what_it_had_not_delivered_staged() -> None:
    bus = LocalEventBus()
    aggregate = Numbers().use(bus)
    seen: list[int] = []
    blocked = anyio.Event()
    block = True

    @bus.register
    async def on_numbered(event: Numbered) -> None:
        seen.append(event.n)
        if event.n == 2 and block:
            blocked.set()
            await anyio.sleep_forever()

    aggregate.add(1, 2, 3)
    async with anyio.create_task_group() as tg:
        tg.start_soon(aggregate.commit)
        await blocked.wait()
        tg.cancel_scope.cancel()
    assert seen == [1, 2]
    assert numbers(aggregate) == [2, 3]
    block = False
    await aggregate.commit()
    assert seen == [1, 2, 2, 3]
    assert aggregate.staged == ()


async def test_a_cancelled_all_or_nothing_commit_leaves_every_event_staged() -> None:
    outbox = Outbox()
    outbox.closing = anyio.Event()
    aggregate = Numbers().use(outbox)
    aggregate.add(1, 2)
    async with anyio.create_task_group() as tg:
        tg.start_soon(aggregate.commit)
        await outbox.closing.wait()
        tg.cancel_scope.cancel()
    assert outbox.rows == []
    assert numbers(aggregate) == [1, 2]


async def test_cleanup_by_a_handler_drops_the_events_not_yet_published() -> None:
    bus = LocalEventBus()
    aggregate = Numbers().use(bus)
    seen: list[int] = []

    @bus.register
    async def on_numbered(event: Numbered) -> None:
        seen.append(event.n)
        if event.n == 1:
            aggregate.cleanup()

    aggregate.add(1, 2, 3)
    await aggregate.commit()
    assert seen == [1]
    assert aggregate.staged == ()


async def test_cleanup_during_a_failing_transaction_is_not_undone() -> None:
    outbox = Outbox()
    outbox.closing = anyio.Event()
    outbox.fail_commit = 1
    aggregate = Numbers().use(outbox)
    aggregate.add(1, 2)
    failures: list[BaseException] = []

    async with anyio.create_task_group() as tg:
        tg.start_soon(commit_expecting_a_connection_error, aggregate, failures)
        await outbox.closing.wait()
        aggregate.cleanup()
        outbox.release.set()
    assert len(failures) == 1
    assert aggregate.staged == ()


async def test_concurrent_commits_never_publish_an_event_twice_and_do_not_wait() -> None:
    bus = LocalEventBus()
    aggregate = Numbers().use(bus)
    seen: list[int] = []
    blocked = anyio.Event()
    release = anyio.Event()

    @bus.register
    async def on_numbered(event: Numbered) -> None:
        seen.append(event.n)
        if event.n == 1:
            blocked.set()
            await release.wait()

    aggregate.add(1, 2)
    with anyio.fail_after(5):  # a commit that waited for the other would never return
        async with anyio.create_task_group() as tg:
            tg.start_soon(aggregate.commit)
            await blocked.wait()
            aggregate.add(3)
            await aggregate.commit()  # takes only 3: the first commit took 1 and 2
            assert seen == [1, 3]
            assert numbers(aggregate) == [1, 2]  # taken by the first commit, not delivered yet
            release.set()
    assert seen == [1, 3, 2]
    assert aggregate.staged == ()


async def test_a_handler_may_commit_the_aggregate_it_is_handling() -> None:
    bus = LocalEventBus()
    aggregate = Numbers().use(bus)
    seen: list[int] = []

    @bus.register
    async def on_numbered(event: Numbered) -> None:
        seen.append(event.n)
        if event.n == 1:
            aggregate.add(10)
            await aggregate.commit()  # no deadlock: it publishes what this handler enqueued

    aggregate.add(1, 2)
    with anyio.fail_after(5):  # a deadlock fails the test instead of hanging it
        await aggregate.commit()
    assert seen == [1, 10, 2]
    assert aggregate.staged == ()


async def test_the_concurrent_strategy_with_a_handler_that_fails_once() -> None:
    bus = LocalEventBus(strategy="concurrent")
    aggregate = Numbers().use(bus)
    attempts: list[int] = []
    failed: set[int] = set()

    @bus.register
    async def first(event: Numbered) -> None:
        attempts.append(event.n)

    @bus.register
    async def second(event: Numbered) -> None:
        if event.n == 2 and 2 not in failed:
            failed.add(2)
            raise RuntimeError("once")

    aggregate.add(1, 2, 3)
    with pytest.raises(PublishError):
        await aggregate.commit()
    assert numbers(aggregate) == [2, 3]
    await aggregate.commit()
    # The event is the unit: its handlers that succeeded run again on the retry.
    assert attempts == [1, 2, 2, 3]


# -- python-mediator 0.7 usage -------------------------------------------------


async def test_python_mediator_publishers_and_aggregates_keep_working() -> None:
    class Calls(EventPublisher):  # python-mediator's signature: no positional-only marker
        def __init__(self) -> None:
            self.calls: list[tuple[Any, dict[str, Any]]] = []

        async def publish(self, obj: Any, **kwargs: Any) -> None:
            self.calls.append((obj, kwargs))

    class Checked(Calls):
        @contextlib.asynccontextmanager
        async def transaction(self) -> AsyncIterator[EventPublish]:
            nested = Calls()
            before = list(self.calls)
            yield nested
            assert nested.calls == [(Renamed("a"), {"actor": "admin"}), (Deleted(), {})]
            assert self.calls == before
            self.calls.extend(nested.calls)

    user = User()
    with pytest.raises(ConfigEventAggregateError):
        await user.commit()
    plain = Calls()
    user.use(plain)
    await user.commit()
    user.delete()
    user.cleanup()
    await user.commit()
    assert plain.calls == []
    user.delete()
    await user.commit()
    assert plain.calls == [(Deleted(), {})]

    checked = Checked()
    user = User().use(checked)
    user.rename("a")
    user.delete()
    await user.commit()
    assert checked.calls == [(Renamed("a"), {"actor": "admin"}), (Deleted(), {})]
    assert user.staged == ()
