"""`EventAggregate`: stage events while work is in progress, publish them together."""

from __future__ import annotations

from typing import Any

from ._errors import ConfigEventAggregateError
from ._event_bus import EventPublisher

__all__ = ["EventAggregate"]


class EventAggregate:
    """Collects events (for example inside a domain aggregate) and publishes them on commit.

    ``commit()`` publishes the staged events, in order, inside
    ``publisher.transaction()`` and then forgets them. If a publish fails,
    the events stay staged and the error propagates: retry ``commit()`` or
    drop them with ``cleanup()``.
    """

    def __init__(self) -> None:
        self._publisher: EventPublisher | None = None
        self._staged: list[tuple[Any, dict[str, Any]]] = []

    def use(self, publisher: EventPublisher) -> EventAggregate:
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
            raise ConfigEventAggregateError(
                f"{type(self).__name__}.commit() has no publisher: call use(bus) first "
                f"(for example `aggregate.use(event_bus)`)"
            )
        async with publisher.transaction() as transaction:
            for obj, kwargs in self._staged:
                await transaction.publish(obj, **kwargs)
        self._staged.clear()
