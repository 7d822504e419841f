"""Action types: python-mediator's ``mediator.common.types`` path."""

from .._modifiers import ActionCallType as ActionCallType
from .._modifiers import ActionResult as ActionResult
from .._modifiers import ActionSubject as ActionSubject

__all__ = ("ActionCallType", "ActionResult", "ActionSubject")
