"""`Handoff`: the entries between a worker's reader and its handler tasks.

A memory object stream would do, at a price paid per entry: a checkpoint
and a new event for every receive that waits.  Here the reader puts a whole
batch without waiting (while there is room), and the handler tasks that are
idle share one event per batch, not one each per entry.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import anyio

__all__ = ["Handoff"]

_T = TypeVar("_T")


class Handoff(Generic[_T]):
    """A FIFO for one event loop, holding at most ``size`` items: `put` waits for room."""

    __slots__ = ("_closed", "_items", "_more", "_room", "_size")

    def __init__(self, size: int) -> None:
        self._items: deque[_T] = deque()
        self._size = size
        self._more = anyio.Event()  # set: there may be items (or it closed)
        self._room = anyio.Event()  # set: there may be room
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, item: _T) -> bool:
        """Add ``item`` if there is room; False if there is none."""
        if len(self._items) >= self._size:
            return False
        self._items.append(item)
        if not self._more.is_set():
            self._more.set()
        return True

    async def put(self, item: _T) -> None:
        """Add ``item`` once there is room (a cancelled wait adds nothing)."""
        while not self.offer(item):
            if self._room.is_set():
                self._room = anyio.Event()
            await self._room.wait()

    def take(self) -> _T | None:
        """The next item at once, or None (empty, or closed)."""
        if self._closed or not self._items:
            return None
        item = self._items.popleft()
        if not self._room.is_set():
            self._room.set()
        return item

    async def wait(self) -> bool:
        """Wait for an item; False once closed (what is left stays in it)."""
        while not self._items and not self._closed:
            if self._more.is_set():
                self._more = anyio.Event()
            await self._more.wait()
        return not self._closed

    def close(self) -> None:
        """No more takes: waiting tasks wake and learn it."""
        self._closed = True
        self._more.set()
