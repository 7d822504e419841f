"""Events: python-mediator's ``mediator.event`` path."""

from ._aggregate import EventAggregate as EventAggregate
from ._errors import ConfigEventAggregateError as ConfigEventAggregateError
from ._errors import EventAggregateError as EventAggregateError
from ._errors import Failure as Failure
from ._errors import PublishError as PublishError
from ._event_bus import EventPublish as EventPublish
from ._event_bus import EventPublisher as EventPublisher
from ._event_bus import LocalEventBus as LocalEventBus
from ._registry import EventHandlerRegistry as EventHandlerRegistry

__all__ = (
    "ConfigEventAggregateError",
    "EventAggregate",
    "EventAggregateError",
    "EventHandlerRegistry",
    "EventPublish",
    "EventPublisher",
    "Failure",
    "LocalEventBus",
    "PublishError",
)
