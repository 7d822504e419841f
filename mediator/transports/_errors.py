"""What the set-up errors of the transports share: where, which rule, which argument, what value."""

from __future__ import annotations

from .._errors import MediatorError

__all__ = ["SetupError"]


class SetupError(MediatorError, TypeError, ValueError):
    """An argument of a transport's call is wrong; nothing was written or recorded.

    A subclass says, per problem, what is wrong and how to fix it (`_explain`).

    Attributes:
        where: the call (``"SqliteOutbox()"``, ``"idempotent()"``, ...).
        problem: which rule the argument breaks (each subclass lists its own).
        option: the argument at fault.
        value: what it was given.
    """

    def __init__(self, where: str, problem: str, *, option: str, value: object) -> None:
        super().__init__()
        self.where = where
        self.problem = problem
        self.option = option
        self.value = value
        shown = repr(value)
        if len(shown) > 60:
            shown = f"{shown[:57]}..."
        what, tip = self._explain()
        self._say(f"{where}: {option}={shown} {what}.", tip)

    def _explain(self) -> tuple[str, str]:
        """(what is wrong with the value, how to fix it)."""
        raise NotImplementedError
