"""The headers an outgoing event inherits from the code that wrote it.

An event written while a worker handles another one is caused by it: it
gets that event's id as its ``causation_id`` and keeps its
``correlation_id``, so that one business flow can be followed across
services.  An event written outside any delivery starts a flow: its
correlation id is its own id.  ``traceparent`` (W3C Trace Context) is added
when the writer is inside an OpenTelemetry span; OpenTelemetry is read only
if the application already imported it, never imported here.

A delivery's context also collects the commits its handlers leave to the
worker (`deferred_commits`), which it awaits before the ack.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ._worker import Delivery

__all__ = [
    "Settle",
    "correlation",
    "current_delivery",
    "deferred_commits",
    "enter_commits",
    "enter_delivery",
    "handling",
    "leave_commits",
    "leave_delivery",
    "outgoing_headers",
]

CORRELATION_ID = "correlation_id"
CAUSATION_ID = "causation_id"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

_delivery: ContextVar[Delivery | None] = ContextVar("mediator_delivery", default=None)
_correlation: ContextVar[str | None] = ContextVar("mediator_correlation", default=None)


class Settle(Protocol):
    """A transaction holding a handler's effect that commits later, with other handlers'."""

    async def settle(self) -> BaseException | None:
        """Commit (once: later calls return the first outcome); the failure, or None."""
        ...


_commits: ContextVar[list[Settle] | None] = ContextVar("mediator_commits", default=None)


def deferred_commits() -> list[Settle] | None:
    """Where a store leaves a commit for the worker to await before it acks the entry.

    None outside a worker's delivery: there the store must commit before it returns.
    """
    return _commits.get()


def enter_commits(commits: list[Settle]) -> Token[list[Settle] | None]:
    """Collect in ``commits`` what the handlers of this delivery leave to commit."""
    return _commits.set(commits)


def leave_commits(token: Token[list[Settle] | None]) -> None:
    _commits.reset(token)


def current_delivery() -> Delivery | None:
    """The delivery a worker is handling in this task, if any."""
    return _delivery.get()


def enter_delivery(delivery: Delivery) -> Token[Delivery | None]:
    """Mark this task as handling ``delivery`` (the worker does, around ``publish``)."""
    return _delivery.set(delivery)


def leave_delivery(token: Token[Delivery | None]) -> None:
    _delivery.reset(token)


@contextlib.contextmanager
def handling(delivery: Delivery) -> Iterator[None]:
    """`enter_delivery` and `leave_delivery` around the code inside."""
    token = enter_delivery(delivery)
    try:
        yield
    finally:
        leave_delivery(token)


@contextlib.contextmanager
def correlation(correlation_id: str) -> Iterator[None]:
    """Give the events written inside the correlation id ``correlation_id``.

    For the start of a flow that has an id of its own, such as a web
    request's ``X-Request-ID``; inside a worker's delivery the delivery's
    correlation id is kept instead.
    """
    given: object = correlation_id  # checked, whatever typed
    if not isinstance(given, str) or not given:
        raise TypeError(f"correlation(): the id must be a non-empty str, not {correlation_id!r}")
    token = _correlation.set(correlation_id)
    try:
        yield
    finally:
        _correlation.reset(token)


def outgoing_headers(event_id: str, given: Mapping[str, str]) -> dict[str, str]:
    """The headers of a new event: inherited ones first, then ``given`` (which win)."""
    headers: dict[str, str] = {}
    delivery = _delivery.get()
    if delivery is not None:
        headers[CORRELATION_ID] = delivery.headers.get(CORRELATION_ID) or delivery.event_id
        headers[CAUSATION_ID] = delivery.event_id
    else:
        headers[CORRELATION_ID] = _correlation.get() or event_id
    if "opentelemetry.trace" in sys.modules:
        headers.update(_trace_context())
    if given:
        headers.update(given)
    return headers


def _trace_context() -> dict[str, str]:
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    found = {
        TRACEPARENT: (
            f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
        )
    }
    state = context.trace_state.to_header() if context.trace_state else ""
    if state:
        found[TRACESTATE] = state
    return found
