"""Action types: python-mediator's ``mediator.common.types`` path."""

from .._legacy import ActionCallType as ActionCallType
from .._legacy import ActionResult as ActionResult
from .._legacy import ActionSubject as ActionSubject

__all__ = ("ActionCallType", "ActionResult", "ActionSubject")
