"""Providers: per-call values a handler declares by parameter name (``bus.provide``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._errors import MediatorError
    from ._registry import HandlerRegistry

__all__ = ["argument_problems"]


def argument_problems(registry: HandlerRegistry) -> list[MediatorError]:
    """Every required handler (or factory) parameter that nothing can supply.

    Known only once the registry declares its call-time arguments
    (``registry.expect(...)``): empty otherwise.
    """
    return []
