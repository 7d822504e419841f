"""Registry types and errors: python-mediator's ``mediator.common.registry`` path."""

from .._errors import CollisionHandlerStoreError as CollisionHandlerStoreError
from .._errors import LookupHandlerStoreError as LookupHandlerStoreError
from .._registry import HandlerEntry as HandlerEntry
from .._registry import HandlerRegistry as HandlerRegistry

__all__ = (
    "CollisionHandlerStoreError",
    "HandlerEntry",
    "HandlerRegistry",
    "LookupHandlerStoreError",
)
