"""The handler record: python-mediator's ``mediator.common.handler`` path."""

from .._handler import Handler as Handler

#: python-mediator's name for the read-only view of a handler.
HandlerInfo = Handler

__all__ = ("Handler", "HandlerInfo")
