"""Handler policies: python-mediator's ``mediator.common.factory`` path."""

from .._policies import CallableHandlerPolicy as CallableHandlerPolicy
from .._policies import MethodHandlerPolicy as MethodHandlerPolicy
from .._policies import Policy as PolicyType

__all__ = ("CallableHandlerPolicy", "MethodHandlerPolicy", "PolicyType")
