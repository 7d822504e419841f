"""Modifier factories: python-mediator's ``mediator.common.modifiers`` path."""

from .._legacy import ActionCallType as ActionCallType
from .._legacy import ActionResult as ActionResult
from .._legacy import ActionSubject as ActionSubject
from .._legacy import ModifierFactory as ModifierFactory
from .._legacy import ModifierStack as ModifierStack
from .._names import show_public_path as _show_public_path

__all__ = ("ActionCallType", "ActionResult", "ActionSubject", "ModifierFactory", "ModifierStack")

_show_public_path(globals(), __name__)
