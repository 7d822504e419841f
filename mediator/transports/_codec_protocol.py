"""The `Codec` protocol: how events become payloads, so pydantic or msgspec can plug in."""

from __future__ import annotations

from typing import NamedTuple, Protocol

__all__ = ["Codec", "Encoded"]


class Encoded(NamedTuple):
    """An event encoded: its stable wire name and version, and the payload."""

    type: str
    version: int
    payload: bytes


class Codec(Protocol):
    """Turns registered events into payloads and back."""

    @property
    def content_type(self) -> str:
        """The MIME type of the payloads (``"application/json"``).

        Read-only, so that a class attribute, a property or a frozen dataclass
        field all satisfy it.
        """
        ...

    def encode(self, event: object) -> Encoded:
        """Raise a clear error if the event's class is not registered."""
        ...

    def decode(self, type: str, version: int, payload: bytes) -> object:
        """Unknown fields are ignored; missing ones take their defaults."""
        ...
