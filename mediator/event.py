"""Events: python-mediator's ``mediator.event`` path."""

from ._aggregate import EventAggregate as EventAggregate
from ._aggregate import EventPublish as EventPublish
from ._aggregate import EventPublisher as EventPublisher
from ._errors import ConfigEventAggregateError as ConfigEventAggregateError
from ._errors import EventAggregateError as EventAggregateError
from ._errors import Failure as Failure
from ._errors import PublishError as PublishError
from ._event_bus import LocalEventBus as LocalEventBus
from ._event_bus import Strategy as Strategy
from ._names import show_public_path as _show_public_path
from ._registry import EventHandlerRegistry as EventHandlerRegistry

#: python-mediator's name for what handlers are registered on (a bus or a registry).
EventSubscriber = EventHandlerRegistry

__all__ = (
    "ConfigEventAggregateError",
    "EventAggregate",
    "EventAggregateError",
    "EventHandlerRegistry",
    "EventPublish",
    "EventPublisher",
    "EventSubscriber",
    "Failure",
    "LocalEventBus",
    "PublishError",
    "Strategy",
)

_show_public_path(globals(), __name__)
