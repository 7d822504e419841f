"""Publishing interfaces, and `EventAggregate`: stage events, publish them together."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable
from typing import Any, Final, Protocol, Self, runtime_checkable

from ._errors import ConfigEventAggregateError

__all__ = ["EventAggregate", "EventPublish", "EventPublisher"]


@runtime_checkable
class EventPublish(Protocol):
    """Anything that publishes events (python-mediator's interface); buses satisfy it."""

    def publish(self, event: Any, /, **kwargs: Any) -> Awaitable[None]: ...


class EventPublisher:
    """A publisher with a ``transaction()``, which `EventAggregate.commit` publishes in.

    The default transaction is a no-op that yields the publisher itself: an
    event is out as soon as its ``publish`` returns.  Override
    ``transaction()`` to publish a batch all or nothing (for example into an
    outbox).  `EventAggregate.commit` then takes the events published in it as
    out only once it exits without raising; so a transaction that raises,
    whether it re-raises a failed publish or fails on its own (its database
    commit), must leave none of them published: roll back what it wrote.
    """

    def publish(self, event: Any, /, **kwargs: Any) -> Awaitable[None]:
        raise NotImplementedError

    def transaction(self) -> contextlib.AbstractAsyncContextManager[EventPublish]:
        return contextlib.nullcontext(self)


def _all_or_nothing(publisher: object) -> bool:
    """Whether the publisher's ``transaction()`` is its own (taken to be atomic)."""
    return getattr(type(publisher), "transaction", None) is not EventPublisher.transaction


# The states of a staged event.
_FREE: Final = 0  # staged; no running commit has taken it
_TAKEN: Final = 1  # staged; a running commit is publishing it
_SENT: Final = 2  # staged; published into an all-or-nothing transaction still open
_GONE: Final = 3  # unstaged (delivered, or dropped by cleanup()): out of the list


class _Staged:
    """One ``enqueue()`` call; compared by identity."""

    __slots__ = ("event", "kwargs", "state")

    def __init__(self, event: Any, kwargs: dict[str, Any]) -> None:
        self.event = event
        self.kwargs = kwargs
        self.state = _FREE


class EventAggregate:
    """Collects events (for example inside a domain aggregate) and publishes them on commit.

    ``enqueue()`` stages an event.  ``commit()`` publishes the staged events,
    oldest first, inside one ``publisher.transaction()``, and unstages each
    one once it is delivered.  If it fails, the error propagates and only what
    was not delivered stays staged, in its order: ``commit()`` again delivers
    exactly that; ``cleanup()`` drops it.

    When an event counts as delivered depends on the publisher's transaction:

    * The default (no-op) one, a `LocalEventBus`'s for example: when its
      ``publish`` returns.  A failed publish leaves that event staged, first,
      with the ones after it; the ones before it went out and are not
      published again.  The event is the unit, not the handler: the retry runs
      all of the failed event's handlers, the ones that succeeded too.
    * An overridden ``transaction()``, taken to be all or nothing: when the
      transaction exits without raising.  If it raises, because a publish
      failed or because its exit failed after every publish succeeded (an
      outbox whose database commit fails), nothing in it was durably
      published, and all its events stay staged.  (An override that is not
      all or nothing gets at-least-once: the retry publishes again what went
      out before the failure.)

    A cancelled ``commit()`` is a failed one.  An event enqueued during a
    ``commit()`` is never dropped:

    * Enqueued while the transaction is publishing (by a handler of an event
      being published, say): published by the same commit, in the same
      transaction, after the events staged before it.  The transaction is
      still open, so a commit that returns has delivered the whole cascade, as
      python-mediator's did.
    * Enqueued once the last publish has returned and the transaction is
      closing (its ``__aexit__`` awaiting an outbox's ``session.commit()``,
      say): left staged for the next ``commit()``.  A closing transaction
      cannot take it, and opening another would break "one commit, one
      transaction" (and could loop for ever).

    Concurrent commits of one aggregate never publish an event twice.  Each
    takes the staged events no running commit has taken, publishes them in
    its own transaction and returns once they are delivered, without waiting
    for the others, so events taken by different commits go out in no
    guaranteed order.  A handler can therefore commit the aggregate whose
    event it handles (publishing what it enqueued) without a deadlock.
    ``staged`` lists what a running commit has taken until it is delivered.
    ``cleanup()`` during a commit drops every staged event: one not yet
    published is not published, and one already published into an open
    transaction is not staged again if that transaction fails.
    """

    def __init__(self) -> None:
        self._publisher: EventPublisher | None = None
        self._staged: list[_Staged] = []

    def use(self, publisher: EventPublisher) -> Self:
        """Set the publisher ``commit()`` sends to; returns ``self`` for chaining."""
        self._publisher = publisher
        return self

    def enqueue(self, obj: Any, **kwargs: Any) -> None:
        """Stage an event, with the keyword arguments to publish it with."""
        self._staged.append(_Staged(obj, kwargs))

    def cleanup(self) -> None:
        """Drop every staged event, including those a running commit has taken."""
        for entry in self._staged:
            entry.state = _GONE
        self._staged.clear()

    @property
    def staged(self) -> tuple[tuple[Any, dict[str, Any]], ...]:
        """The staged ``(event, kwargs)`` pairs, oldest first: what is not delivered yet."""
        return tuple((entry.event, entry.kwargs) for entry in self._staged)

    async def commit(self) -> None:
        """Publish the staged events in order, in one ``publisher.transaction()``.

        See the class documentation for what stays staged when it fails.
        """
        publisher = self._publisher
        if publisher is None:
            raise ConfigEventAggregateError(self)
        atomic = _all_or_nothing(publisher)
        taken: list[_Staged] = []
        try:
            async with publisher.transaction() as transaction:
                while batch := self._take():
                    taken += batch
                    for entry in batch:
                        if entry.state == _GONE:  # dropped by cleanup() meanwhile
                            continue
                        await transaction.publish(entry.event, **entry.kwargs)
                        if not atomic:
                            self._unstage(entry)
                        elif entry.state == _TAKEN:
                            entry.state = _SENT
            if atomic:
                # The transaction exited cleanly: what was published in it is
                # delivered (not what a failed publish left, if it swallowed the error).
                for entry in taken:
                    if entry.state == _SENT:
                        entry.state = _GONE
                self._staged[:] = [entry for entry in self._staged if entry.state != _GONE]
        finally:
            # On a failure, or a cancellation: what this commit took and did not
            # deliver is staged again, where it was.
            for entry in taken:
                if entry.state in (_TAKEN, _SENT):
                    entry.state = _FREE

    def _take(self) -> list[_Staged]:
        """Claim every staged event no running commit has taken, oldest first."""
        batch = [entry for entry in self._staged if entry.state == _FREE]
        for entry in batch:
            entry.state = _TAKEN
        return batch

    def _unstage(self, entry: _Staged) -> None:
        if entry.state != _GONE:
            entry.state = _GONE
            self._staged.remove(entry)
