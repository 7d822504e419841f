"""mediator: an async, in-process mediator bus for CQRS and event-driven code.

Requests go to exactly one handler (`LocalRequestBus`), events to every
handler of their class or a base class (`LocalEventBus`).  Handlers are plain
functions registered with ``@bus.register``; the annotation of their first
parameter picks the messages they get.

This namespace holds what an application uses; every error is in
`mediator.errors`, and python-mediator's names are under its own import
paths (``mediator.request``, ``mediator.event``, ``mediator.common.*``).
"""

from . import errors as errors
from ._aggregate import EventAggregate as EventAggregate
from ._chain import AroundMiddleware as AroundMiddleware
from ._chain import Middleware as Middleware
from ._chain import Modifier as Modifier
from ._chain import Next as Next
from ._chain import around as around
from ._delivery import ErrorCallback as ErrorCallback
from ._errors import Failure as Failure
from ._errors import HandlerNotFoundError as HandlerNotFoundError
from ._errors import MediatorError as MediatorError
from ._errors import MissingArgumentError as MissingArgumentError
from ._errors import PublishError as PublishError
from ._errors import RegistrationError as RegistrationError
from ._event_bus import LocalEventBus as LocalEventBus
from ._event_bus import Strategy as Strategy
from ._handler import Handler as Handler
from ._handler import HandlerKind as HandlerKind
from ._messages import Request as Request
from ._messages import StreamRequest as StreamRequest
from ._names import show_public_path as _show_public_path
from ._registry import EventHandlerRegistry as EventHandlerRegistry
from ._registry import RequestHandlerRegistry as RequestHandlerRegistry
from ._request_bus import LocalRequestBus as LocalRequestBus
from ._routes import Route as Route
from ._stream import Stream as Stream

__version__ = "0.1.0.dev0"

__all__ = (
    "AroundMiddleware",
    "ErrorCallback",
    "EventAggregate",
    "EventHandlerRegistry",
    "Failure",
    "Handler",
    "HandlerKind",
    "HandlerNotFoundError",
    "LocalEventBus",
    "LocalRequestBus",
    "MediatorError",
    "Middleware",
    "MissingArgumentError",
    "Modifier",
    "Next",
    "PublishError",
    "RegistrationError",
    "Request",
    "RequestHandlerRegistry",
    "Route",
    "Strategy",
    "Stream",
    "StreamRequest",
    "around",
)

_show_public_path(globals(), __name__)
