"""The SQLite database, and the unit of work every handler call gets.

sqlite3 is synchronous, and the handlers call it inline, in the event loop: a
statement on a local file takes microseconds, and no handler awaits while its
transaction is open, so transactions of one process never wait for each other.
Waiting for a lock held by *another* process would block the event loop, so
the connection does not wait at all (``busy_timeout=0``): it raises "database is
locked" at once, and the `retry` middleware runs the whole call again after an
``anyio.sleep``, which lets the loop go on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ("CATALOGUE", "Database")

#: The stock a new database starts with.
CATALOGUE: Mapping[str, int] = {"widget": 10, "gizmo": 5}

SCHEMA = """
CREATE TABLE IF NOT EXISTS stock (
    product TEXT PRIMARY KEY,
    available INTEGER NOT NULL CHECK (available >= 0)
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY,
    customer TEXT NOT NULL,
    product TEXT NOT NULL REFERENCES stock (product),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL,
    text TEXT NOT NULL
);
"""


class Database:
    """A SQLite file; each handler call opens its own connection and transaction on it."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 0.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout

    def connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions, `transaction()` says BEGIN itself.
        connection = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA foreign_keys = ON")
        return connection

    def create(self, stock: Mapping[str, int] = CATALOGUE) -> None:
        """Create the tables if they are missing, and stock the products not stocked yet."""
        connection = self.connect()
        try:
            connection.executescript(SCHEMA)
            connection.executemany(
                "INSERT OR IGNORE INTO stock (product, available) VALUES (?, ?)", stock.items()
            )
        finally:
            connection.close()

    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The provider of ``db``: one transaction per handler call, committed if it succeeds.

        The handler's exception (or cancellation) is thrown in at the ``yield``:
        everything the call wrote is rolled back, and the exception goes on.
        """
        connection = self.connect()
        try:
            # IMMEDIATE takes the write lock now: if another process holds it, the call
            # fails before the handler runs, and `retry` runs it again.
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
            else:
                connection.commit()
        finally:
            connection.close()
