"""Every exception the library raises.

Each class also derives from the builtin a caller would naturally catch
(``TypeError`` for a badly written handler, ``LookupError`` for a message
nobody handles, ...), and every message names the handler (qualified name and
``file:line``), the parameter, what is wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from typing import Self

    from ._handler import Handler

__all__ = [
    "AmbiguousHandlerError",
    "BusStateError",
    "CollisionHandlerStoreError",
    "ConfigEventAggregateError",
    "EventAggregateError",
    "Failure",
    "HandlerArgumentError",
    "LookupHandlerStoreError",
    "MediatorError",
    "MissingArgumentError",
    "ModifierError",
    "PublishError",
    "RegistrationError",
    "UnresolvedAnnotationError",
]


class MediatorError(Exception):
    """Base class of every error raised by this library."""


class RegistrationError(MediatorError, TypeError):
    """A handler cannot be registered as written.

    Raised by ``register``/``include`` (or, for annotations that could only be
    resolved later, by the first dispatch or ``freeze()``); the bus is left
    unchanged.
    """

    def __init__(self, message: str, *, handler: str | None = None) -> None:
        super().__init__(message)
        self.handler = handler


class UnresolvedAnnotationError(RegistrationError, NameError):
    """The message annotation of a handler names something that does not exist at run time."""

    def __init__(self, message: str, *, handler: str, parameter: str, name: str | None) -> None:
        super().__init__(message, handler=handler)
        self.parameter = parameter
        self.name = name


class CollisionHandlerStoreError(MediatorError, KeyError):
    """A second request handler was registered for a message type that already has one."""

    def __init__(
        self, message: str, *, message_type: type, existing: Handler, new: Handler
    ) -> None:
        super().__init__(message)
        self.message_type = message_type
        self.existing = existing
        self.new = new

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0])


class LookupHandlerStoreError(MediatorError, LookupError):
    """No handler can take the given message."""

    def __init__(self, message: str, *, message_type: type) -> None:
        super().__init__(message)
        self.message_type = message_type


class AmbiguousHandlerError(LookupHandlerStoreError):
    """Two base classes of a request, equally close to it, both have a handler."""

    def __init__(self, message: str, *, message_type: type, candidates: Sequence[Handler]) -> None:
        super().__init__(message, message_type=message_type)
        self.candidates = tuple(candidates)


class HandlerArgumentError(MediatorError, TypeError):
    """The keyword arguments of a call do not fit the handler's parameters."""

    def __init__(self, message: str, *, handler: Handler) -> None:
        super().__init__(message)
        self.handler = handler


class MissingArgumentError(HandlerArgumentError):
    """A required handler parameter was given neither by the call nor by a modifier."""

    def __init__(self, message: str, *, handler: Handler, parameters: Sequence[str]) -> None:
        super().__init__(message, handler=handler)
        self.parameters = tuple(parameters)


class ModifierError(MediatorError, TypeError):
    """A modifier broke the modifier contract (for example returned no ``ActionResult``)."""


class BusStateError(MediatorError, RuntimeError):
    """The bus is not in a state that allows this call (not entered, already entered, frozen)."""


class Failure(NamedTuple):
    """One failed event handler: which handler, and what it raised."""

    handler: Handler
    exception: Exception


class PublishError(ExceptionGroup[Exception], MediatorError):
    """Raised by ``publish`` after every handler ran, when one or more of them failed.

    It is an ``ExceptionGroup`` of the handlers' exceptions, so ``except*``
    works; ``failures`` pairs each exception with the handler that raised it,
    and each exception also carries a note naming its handler.
    """

    failures: tuple[Failure, ...] = ()
    event: Any = None

    @classmethod
    def from_failures(cls, event: object, failures: Sequence[Failure], handlers: int) -> Self:
        from ._names import type_name

        event_name = type_name(type(event))
        names = ", ".join(f.handler.name for f in failures)
        message = f"{len(failures)} of {handlers} handlers failed for {event_name}: {names}"
        error = cls(message, [f.exception for f in failures])
        error.failures = tuple(failures)
        error.event = event
        return error

    def derive(self, excs: Sequence[Exception]) -> PublishError:  # type: ignore[override]
        # Keeps `split`/`subgroup` results a PublishError with the matching failures.
        derived = PublishError(self.message, excs)
        kept = {id(exc) for exc in excs}
        derived.failures = tuple(f for f in self.failures if id(f.exception) in kept)
        derived.event = self.event
        return derived


class EventAggregateError(MediatorError):
    """Base class of ``EventAggregate`` errors."""


class ConfigEventAggregateError(AssertionError, EventAggregateError):
    """``EventAggregate.commit()`` was called before ``use(publisher)``."""
