"""Publishing interfaces, and `EventAggregate`: stage events, publish them together."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable
from typing import Any, Protocol, Self, runtime_checkable

from ._errors import ConfigEventAggregateError

__all__ = ["EventAggregate", "EventPublish", "EventPublisher"]


@runtime_checkable
class EventPublish(Protocol):
    """Anything that publishes events (python-mediator's interface); buses satisfy it."""

    def publish(self, event: Any, /, **kwargs: Any) -> Awaitable[None]: ...


class EventPublisher:
    """A publisher with a ``transaction()``, which `EventAggregate.commit` publishes in.

    The default transaction is a no-op that yields the publisher itself;
    override it to publish a batch atomically (for example into an outbox).
    """

    def publish(self, event: Any, /, **kwargs: Any) -> Awaitable[None]:
        raise NotImplementedError

    def transaction(self) -> contextlib.AbstractAsyncContextManager[EventPublish]:
        return contextlib.nullcontext(self)


class EventAggregate:
    """Collects events (for example inside a domain aggregate) and publishes them on commit.

    ``commit()`` publishes the staged events, in order, inside
    ``publisher.transaction()`` and then forgets them.  If a publish fails,
    the events stay staged and the error propagates: retry ``commit()`` or
    drop them with ``cleanup()``.
    """

    def __init__(self) -> None:
        self._publisher: EventPublisher | None = None
        self._staged: list[tuple[Any, dict[str, Any]]] = []

    def use(self, publisher: EventPublisher) -> Self:
        """Set the publisher ``commit()`` sends to; returns ``self`` for chaining."""
        self._publisher = publisher
        return self

    def enqueue(self, obj: Any, **kwargs: Any) -> None:
        """Stage an event, with the keyword arguments to publish it with."""
        self._staged.append((obj, kwargs))

    def cleanup(self) -> None:
        """Drop every staged event."""
        self._staged.clear()

    @property
    def staged(self) -> tuple[tuple[Any, dict[str, Any]], ...]:
        """The staged ``(event, kwargs)`` pairs, oldest first."""
        return tuple(self._staged)

    async def commit(self) -> None:
        """Publish the staged events in order, in one ``publisher.transaction()``."""
        publisher = self._publisher
        if publisher is None:
            raise ConfigEventAggregateError(self)
        async with publisher.transaction() as transaction:
            for obj, kwargs in self._staged:
                await transaction.publish(obj, **kwargs)
        self._staged.clear()
