"""Modifiers: python-mediator's ``mediator.common.modifiers`` path."""

from .._modifiers import ActionCallType as ActionCallType
from .._modifiers import ActionResult as ActionResult
from .._modifiers import ActionSubject as ActionSubject
from .._modifiers import ModifierFactory as ModifierFactory
from .._modifiers import ModifierStack as ModifierStack

__all__ = ("ActionCallType", "ActionResult", "ActionSubject", "ModifierFactory", "ModifierStack")
