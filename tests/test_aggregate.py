"""EventAggregate: stage events, publish them together inside a transaction."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

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


async def test_with_a_local_event_bus_and_a_failing_handler_events_stay_staged() -> None:
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
    assert len(user.staged) == 2  # retry commit(), or cleanup()
