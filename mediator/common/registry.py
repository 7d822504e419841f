"""Registry types and errors: python-mediator's ``mediator.common.registry`` path.

The store classes are gone; their error names remain, as the errors this
library raises in their place.
"""

from .._handler import HandlerEntry as HandlerEntry
from .._legacy import CollisionHandlerStoreError as CollisionHandlerStoreError
from .._legacy import HandlerStoreError as HandlerStoreError
from .._legacy import InspectionHandlerStoreError as InspectionHandlerStoreError
from .._legacy import LookupHandlerStoreError as LookupHandlerStoreError
from .._names import show_public_path as _show_public_path
from .._registry import HandlerRegistry as HandlerRegistry

__all__ = (
    "CollisionHandlerStoreError",
    "HandlerEntry",
    "HandlerRegistry",
    "HandlerStoreError",
    "InspectionHandlerStoreError",
    "LookupHandlerStoreError",
)

_show_public_path(globals(), __name__)
