"""Handler policies and their errors: python-mediator's ``mediator.common.factory`` path.

The factory, mapper and cascade classes behind them are gone; their error
names remain, as the errors this library raises in their place.
"""

from .._legacy import ConfigHandlerFactoryCascadeError as ConfigHandlerFactoryCascadeError
from .._legacy import HandlerFactoryCascadeError as HandlerFactoryCascadeError
from .._legacy import HandlerFactoryError as HandlerFactoryError
from .._legacy import (
    IncompatibleHandlerFactoryCascadeError as IncompatibleHandlerFactoryCascadeError,
)
from .._legacy import IncompatibleHandlerFactoryError as IncompatibleHandlerFactoryError
from .._legacy import InspectionHandlerFactoryCascadeError as InspectionHandlerFactoryCascadeError
from .._names import show_public_path as _show_public_path
from .._policies import CallableHandlerPolicy as CallableHandlerPolicy
from .._policies import MethodHandlerPolicy as MethodHandlerPolicy
from .._policies import Policy as PolicyType

__all__ = (
    "CallableHandlerPolicy",
    "ConfigHandlerFactoryCascadeError",
    "HandlerFactoryCascadeError",
    "HandlerFactoryError",
    "IncompatibleHandlerFactoryCascadeError",
    "IncompatibleHandlerFactoryError",
    "InspectionHandlerFactoryCascadeError",
    "MethodHandlerPolicy",
    "PolicyType",
)

_show_public_path(globals(), __name__)
