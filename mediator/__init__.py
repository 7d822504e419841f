"""mediator: an async, in-process mediator bus for CQRS and event-driven code.

Requests go to exactly one handler (`LocalRequestBus`), events to every
handler of their class or a base class (`LocalEventBus`).  Handlers are plain
functions registered with ``@bus.register``; the annotation of their first
parameter picks the messages they get.
"""

from ._aggregate import EventAggregate as EventAggregate
from ._errors import AmbiguousHandlerError as AmbiguousHandlerError
from ._errors import BusStateError as BusStateError
from ._errors import CollisionHandlerStoreError as CollisionHandlerStoreError
from ._errors import ConfigEventAggregateError as ConfigEventAggregateError
from ._errors import EventAggregateError as EventAggregateError
from ._errors import Failure as Failure
from ._errors import HandlerArgumentError as HandlerArgumentError
from ._errors import LookupHandlerStoreError as LookupHandlerStoreError
from ._errors import MediatorError as MediatorError
from ._errors import MissingArgumentError as MissingArgumentError
from ._errors import ModifierError as ModifierError
from ._errors import PublishError as PublishError
from ._errors import RegistrationError as RegistrationError
from ._errors import UnresolvedAnnotationError as UnresolvedAnnotationError
from ._event_bus import EventPublish as EventPublish
from ._event_bus import EventPublisher as EventPublisher
from ._event_bus import LocalEventBus as LocalEventBus
from ._handler import Handler as Handler
from ._messages import Request as Request
from ._messages import StreamRequest as StreamRequest
from ._modifiers import ActionCallType as ActionCallType
from ._modifiers import ActionResult as ActionResult
from ._modifiers import ActionSubject as ActionSubject
from ._modifiers import Middleware as Middleware
from ._modifiers import Modifier as Modifier
from ._modifiers import ModifierFactory as ModifierFactory
from ._modifiers import ModifierStack as ModifierStack
from ._modifiers import Next as Next
from ._policies import CallableHandlerPolicy as CallableHandlerPolicy
from ._policies import MethodHandlerPolicy as MethodHandlerPolicy
from ._registry import EventHandlerRegistry as EventHandlerRegistry
from ._registry import HandlerEntry as HandlerEntry
from ._registry import RequestHandlerRegistry as RequestHandlerRegistry
from ._request_bus import LocalRequestBus as LocalRequestBus
from ._request_bus import RequestExecutor as RequestExecutor
from ._stream import Stream as Stream

__version__ = "0.1.0.dev0"

__all__ = (
    "ActionCallType",
    "ActionResult",
    "ActionSubject",
    "AmbiguousHandlerError",
    "BusStateError",
    "CallableHandlerPolicy",
    "CollisionHandlerStoreError",
    "ConfigEventAggregateError",
    "EventAggregate",
    "EventAggregateError",
    "EventHandlerRegistry",
    "EventPublish",
    "EventPublisher",
    "Failure",
    "Handler",
    "HandlerArgumentError",
    "HandlerEntry",
    "LocalEventBus",
    "LocalRequestBus",
    "LookupHandlerStoreError",
    "MediatorError",
    "MethodHandlerPolicy",
    "Middleware",
    "MissingArgumentError",
    "Modifier",
    "ModifierError",
    "ModifierFactory",
    "ModifierStack",
    "Next",
    "PublishError",
    "RegistrationError",
    "Request",
    "RequestExecutor",
    "RequestHandlerRegistry",
    "Stream",
    "StreamRequest",
    "UnresolvedAnnotationError",
)

# Show the public path in reprs and tracebacks (mediator.PublishError, not
# mediator._errors.PublishError): the private modules are not part of the API.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and _value.__module__.startswith("mediator._"):
        _value.__module__ = __name__
del _name, _value
