"""`SqliteOutbox`: the outbox in the application's own SQLite database (standard library only).

The write side runs on the application's connection, inside its transaction,
and never commits.  The relay's side opens a connection of its own for each
call, in a worker thread (``anyio.to_thread.run_sync``), so that waiting
for SQLite's write lock never blocks the event loop, on asyncio or trio.
Claims run in ``BEGIN IMMEDIATE`` transactions: SQLite lets one writer in at
a time, so two relays never claim one row.  A call cancelled while its thread
runs waits for the thread: the transaction either commits or rolls back.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from keyword import iskeyword
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

from ._codec_protocol import Codec
from ._context import outgoing_headers
from ._envelope import Envelope, JsonHeaders, headers_json, new_id
from ._frozen import builder
from ._outbox import OutboxError, OutboxPublisher, OutboxRow

if TYPE_CHECKING:
    from .._event_bus import LocalEventBus
    from .._registry import EventHandlerRegistry

__all__ = ["SqliteOutbox", "SqlitePublisher"]

_T = TypeVar("_T")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SENT_COLUMNS = "seq, stream, id, type, version, occurred_at, key, headers, content_type, payload"
_COLUMNS = f"{_SENT_COLUMNS}, claimed_by, claimed_until, published_at"


def _autocommits(connection: sqlite3.Connection) -> bool:
    """Whether each statement commits on its own (Python 3.12's ``autocommit=True`` too)."""
    if getattr(connection, "autocommit", None) is True:
        return True
    return connection.isolation_level is None


def shareable(connection: sqlite3.Connection) -> bool:
    """Whether another thread may use ``connection`` (``check_same_thread=False``)."""
    refused: list[bool] = []

    def probe() -> None:
        try:
            connection.execute("SELECT 1")
        except sqlite3.ProgrammingError:
            refused.append(True)

    thread = threading.Thread(target=probe, name="mediator-sqlite-probe")
    thread.start()
    thread.join()
    return not refused


def close_all(connections: list[sqlite3.Connection]) -> None:
    """Close the connections kept in ``connections`` (also when their owner is collected)."""
    while connections:
        connections.pop().close()


def explicit_transactions(connection: sqlite3.Connection) -> None:
    """No implicit transactions: BEGIN, COMMIT and ROLLBACK are the caller's.

    Python 3.12's ``autocommit=False`` would open a transaction of its own,
    which an explicit BEGIN then runs into.
    """
    connection.isolation_level = None
    legacy = getattr(sqlite3, "LEGACY_TRANSACTION_CONTROL", None)
    if getattr(connection, "autocommit", legacy) is not legacy:
        connection.autocommit = True  # type: ignore[attr-defined,unused-ignore]


def _handler_taking(
    name: str, write: Callable[[object, object], None], message: object
) -> Callable[..., Awaitable[None]]:
    """``async def handler(event, /, *, <name>)``: a real parameter, so the bus checks it.

    Built from source because the parameter's name is the application's
    choice, and the bus reports a missing argument from the handler's own
    ``TypeError``, which a ``**kwargs`` function would never raise.
    """
    namespace: dict[str, Any] = {"__write": write}
    exec(  # ``name`` is an identifier not starting with "__" (checked by forward)
        f"async def forward_to_outbox(__event, /, *, {name}):\n    __write(__event, {name})\n",
        namespace,
    )
    handler: Callable[..., Awaitable[None]] = namespace["forward_to_outbox"]
    handler.__annotations__ = {"__event": message, name: sqlite3.Connection, "return": None}
    handler.__module__ = __name__
    return handler


#: Rows and their envelopes, built without the frozen dataclasses' slower __init__.
_new_row = builder(OutboxRow)
_new_envelope = builder(Envelope)


def _when(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


class SqliteOutbox:
    """An outbox table in a SQLite database, and the `OutboxStore` a `Relay` reads.

    Args:
        codec: encodes the events (`JsonCodec`); its errors propagate before
            anything is written.
        database: the database file, for the relay's side.
        connect: or a function returning a new connection to it, made with
            ``check_same_thread=False``.  One of the two is required.  The
            relay's side keeps its connection between calls (`close` closes it).
        table: the table's name.
        timeout: seconds a relay-side call waits for SQLite's write lock.
        clock: the time in Unix seconds (leases and publication times).
    """

    def __init__(
        self,
        codec: Codec,
        *,
        database: str | os.PathLike[str] | None = None,
        connect: Callable[[], sqlite3.Connection] | None = None,
        table: str = "mediator_outbox",
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not _NAME.match(str(table)):
            raise OutboxError("SqliteOutbox()", "table", option="table", value=table)
        if database is None and connect is None:  # the relay's side would fail on every call
            raise OutboxError("SqliteOutbox()", "no-database", option="database", value=None)
        check = getattr(codec, "check", None)
        if callable(check):  # JsonCodec: a field type it cannot encode fails here, at set-up
            check()
        self.codec = codec
        self.table = table
        self._database = database
        self._connect = connect
        self._timeout = timeout
        self._clock = clock
        self._relay_side = anyio.Lock()
        #: The relay's side's connection between two calls (they take turns on the lock).
        self._kept: list[sqlite3.Connection] = []
        weakref.finalize(self, close_all, self._kept)

    def __repr__(self) -> str:
        return f"SqliteOutbox(table={self.table!r}, database={self._database!r})"

    # -- the application's side: its connection, its transaction -----------------------

    def create(self, connection: sqlite3.Connection) -> None:
        """Create the table and its indexes if they do not exist (commits, like any DDL)."""
        t = self.table
        connection.executescript(
            f"""
            CREATE TABLE IF NOT EXISTS {t} (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                stream TEXT NOT NULL,
                id TEXT NOT NULL UNIQUE,
                type TEXT NOT NULL,
                version INTEGER NOT NULL,
                occurred_at TEXT NOT NULL,
                key TEXT,
                headers TEXT NOT NULL,
                content_type TEXT NOT NULL,
                payload BLOB NOT NULL,
                claimed_by TEXT,
                claimed_until REAL,
                published_at REAL
            );
            CREATE INDEX IF NOT EXISTS {t}_unpublished ON {t} (seq) WHERE published_at IS NULL;
            CREATE INDEX IF NOT EXISTS {t}_published ON {t} (published_at)
                WHERE published_at IS NOT NULL;
            """
        )

    def put(
        self,
        connection: sqlite3.Connection,
        *events: object,
        stream: str,
        key: str | Callable[[Any], str | None] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> list[Envelope]:
        """Add ``events`` for ``stream`` in the connection's transaction; does not commit.

        They are sent once the application commits (``with connection:``); a
        rollback drops them with the business rows.  Every event is encoded
        before the first row is written.  ``key`` is the partition key, or a
        function giving each event's (``lambda e: str(e.order_id)``).  Each
        envelope gets ``correlation_id`` and, inside a worker's delivery,
        ``causation_id`` (see `correlation`), and ``traceparent`` inside an
        OpenTelemetry span; ``headers`` are added over them.  Returns the
        envelopes, in order.
        """
        if _autocommits(connection) and not connection.in_transaction:
            raise OutboxError(
                "SqliteOutbox.put()", "autocommit", option="connection", value=connection
            )
        fixed = {str(name): str(value) for name, value in (headers or {}).items()}
        envelopes = []
        for event in events:
            encoded = self.codec.encode(event)
            event_id = new_id()
            envelopes.append(
                Envelope(
                    id=event_id,
                    type=encoded.type,
                    version=encoded.version,
                    occurred_at=datetime.now(UTC),
                    payload=encoded.payload,
                    key=key(event) if callable(key) else key,
                    headers=outgoing_headers(event_id, fixed),
                    content_type=self.codec.content_type,
                )
            )
        connection.executemany(
            f"INSERT INTO {self.table} (stream, id, type, version, occurred_at, key, headers, "
            "content_type, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    stream,
                    e.id,
                    e.type,
                    e.version,
                    e.occurred_at.isoformat(),
                    e.key,
                    headers_json(e.headers),
                    e.content_type,
                    e.payload,
                )
                for e in envelopes
            ],
        )
        return envelopes

    def publisher(
        self,
        connection: sqlite3.Connection,
        *,
        stream: str,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> SqlitePublisher:
        """An `EventPublisher` writing `EventAggregate` commits in ``connection``'s transaction."""
        return SqlitePublisher(self, connection, stream=stream, key=key, headers=headers)

    def forward(
        self,
        bus: LocalEventBus | EventHandlerRegistry,
        *,
        stream: str,
        connection: str = "connection",
        key: Callable[[Any], str | None] | None = None,
        headers: Mapping[str, str] | None = None,
        types: Iterable[type] | None = None,
    ) -> Callable[..., Awaitable[None]]:
        """Register on ``bus`` the handler that writes integration events into this outbox.

        The integration events are ``types`` (default: every class the codec's
        `EventTypes` holds).  Then one ``await bus.publish(event, connection=db)``
        inside the application's transaction runs the local handlers and, for
        those types, adds the outbox row on ``db``: it commits or rolls back
        with the business rows.  Other events never touch the outbox.  The
        handler takes the connection as the keyword argument ``connection``
        (pass it to ``publish``, or `provide` it).  Returns the handler.

        Raises:
            OutboxError: a bus whose strategy does not wait for its handlers
                (``"background"`` would write after the transaction), a bad
                ``stream`` or ``connection`` name, or no types.
            EventTypeError, FieldTypeError: a type the codec cannot encode.
        """
        where = "SqliteOutbox.forward()"
        if getattr(bus, "strategy", None) == "background":
            raise OutboxError(where, "forward-background", option="bus", value=bus)
        names: tuple[object, object] = (stream, connection)  # checked, whatever typed
        if not isinstance(names[0], str) or not stream:
            raise OutboxError(where, "stream", option="stream", value=stream)
        if (
            not isinstance(names[1], str)
            or not connection.isidentifier()
            or iskeyword(connection)
            or connection.startswith("__")
        ):
            raise OutboxError(where, "parameter", option="connection", value=connection)
        if types is None:
            types = getattr(self.codec, "types", None)
            if types is None:
                raise OutboxError(where, "types", option="types", value=None)
        classes = tuple(dict.fromkeys(types))
        if not classes or not all(isinstance(cls, type) for cls in classes):
            raise OutboxError(where, "types", option="types", value=types)
        check = getattr(self.codec, "check", None)
        if callable(check):  # JsonCodec: an unregistered class or field type fails here
            check(classes)
        fixed = {str(name): str(value) for name, value in (headers or {}).items()}
        put = self.put

        def write(event: object, db: object) -> None:
            if not isinstance(db, sqlite3.Connection):
                raise OutboxError(
                    "SqliteOutbox.forward() handler", "connection", option=connection, value=db
                )
            put(db, event, stream=stream, key=key, headers=fixed)

        message = classes[0] if len(classes) == 1 else functools.reduce(operator.or_, classes)
        forward_to_outbox = _handler_taking(connection, write, message)
        forward_to_outbox.__qualname__ = f"SqliteOutbox.forward[{stream}]"
        bus.register(forward_to_outbox)
        return forward_to_outbox

    # -- the relay's side: a connection of its own, in a worker thread -------------------

    async def claim(self, relay_id: str, batch: int, lease: float) -> list[OutboxRow]:
        return await self._run(self._claim, relay_id, batch, lease)

    async def mark_published(self, relay_id: str, seqs: Sequence[int]) -> int:
        if not seqs:
            return 0
        marks = ", ".join("?" * len(seqs))
        sql = (
            f"UPDATE {self.table} SET published_at = ?, claimed_by = NULL, claimed_until = NULL "
            f"WHERE seq IN ({marks}) AND claimed_by = ? AND published_at IS NULL"
        )
        return await self._run(self._write, sql, (self._clock(), *seqs, relay_id))

    async def release(self, relay_id: str, seqs: Sequence[int]) -> None:
        if not seqs:
            return
        marks = ", ".join("?" * len(seqs))
        sql = (
            f"UPDATE {self.table} SET claimed_by = NULL, claimed_until = NULL "
            f"WHERE seq IN ({marks}) AND claimed_by = ? AND published_at IS NULL"
        )
        await self._run(self._write, sql, (*seqs, relay_id))

    async def prune(self, older_than: datetime) -> int:
        sql = f"DELETE FROM {self.table} WHERE published_at IS NOT NULL AND published_at < ?"
        return await self._run(self._write, sql, (older_than.timestamp(),))

    async def rows(self) -> list[OutboxRow]:
        """Every row, oldest first: for tests and inspection."""
        return await self._run(self._rows)

    # -- in the worker thread ------------------------------------------------------------

    def close(self) -> None:
        """Close the connection the relay's side keeps (a later call opens another)."""
        close_all(self._kept)

    async def _run(self, function: Callable[..., _T], *args: Any) -> _T:
        # One call at a time per process (a relay claims ahead while it marks): they
        # queue here, not in SQLite's busy handler, which sleeps between its tries.
        async with self._relay_side:
            # Kept between calls: opening costs more than a claim, and closing the
            # last connection to a WAL database checkpoints it.
            if self._kept:
                connection = self._kept.pop()
            else:
                connection = await anyio.to_thread.run_sync(self._open)
            kept = False
            try:
                result = await anyio.to_thread.run_sync(function, connection, *args)
                kept = not connection.in_transaction
                return result
            finally:
                if kept:
                    self._kept.append(connection)
                else:  # failed or cut short: a fresh connection next time
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(connection.close)

    def _open(self) -> sqlite3.Connection:
        if self._connect is not None:
            connection = self._connect()
            if not shareable(connection):
                connection.close()
                raise OutboxError("SqliteOutbox()", "thread", option="connect", value=self._connect)
        else:
            assert self._database is not None  # checked in __init__
            connection = sqlite3.connect(
                self._database, timeout=self._timeout, check_same_thread=False
            )
        explicit_transactions(connection)  # the transactions below say BEGIN themselves
        return connection

    def _claim(
        self, connection: sqlite3.Connection, relay_id: str, batch: int, lease: float
    ) -> list[OutboxRow]:
        now = self._clock()
        until = now + lease
        claimed_until = datetime.fromtimestamp(until, UTC)  # one for the batch: what it reads
        connection.execute("BEGIN IMMEDIATE")  # the write lock first: no relay claims alongside
        try:
            rows = [
                _new_row(seq, stream, _sent_envelope(*sent), relay_id, claimed_until, None)
                for seq, stream, *sent in connection.execute(
                    f"SELECT {_SENT_COLUMNS} FROM {self.table} WHERE published_at IS NULL "
                    "AND (claimed_until IS NULL OR claimed_until <= ?) ORDER BY seq LIMIT ?",
                    (now, batch),
                )
            ]
            if rows:
                marks = ", ".join("?" * len(rows))
                connection.execute(
                    f"UPDATE {self.table} SET claimed_by = ?, claimed_until = ? "
                    f"WHERE seq IN ({marks})",
                    (relay_id, until, *(row.seq for row in rows)),
                )
            connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise
        return rows

    @staticmethod
    def _write(connection: sqlite3.Connection, sql: str, args: Sequence[object]) -> int:
        return connection.execute(sql, args).rowcount

    def _rows(self, connection: sqlite3.Connection) -> list[OutboxRow]:
        return self._select(connection, "", ())

    def _select(
        self, connection: sqlite3.Connection, where: str, args: Sequence[object]
    ) -> list[OutboxRow]:
        cursor = connection.execute(
            f"SELECT {_COLUMNS} FROM {self.table} {where} ORDER BY seq", args
        )
        return [
            _new_row(seq, stream, _sent_envelope(*sent), by, _when(until), _when(published))
            for seq, stream, *sent, by, until, published in cursor
        ]


def _sent_envelope(
    id_: str,
    type_: str,
    version: int,
    occurred_at: str,
    key: str | None,
    headers: str,
    content_type: str,
    payload: bytes,
) -> Envelope:
    """A row's envelope, from its columns in `_SENT_COLUMNS` order."""
    return _new_envelope(
        id_,
        type_,
        version,
        datetime.fromisoformat(occurred_at),
        bytes(payload),
        key,
        JsonHeaders(headers),  # parsed only if read: a relay passes the text on as it is
        content_type,
    )


class SqlitePublisher(OutboxPublisher):
    """`SqliteOutbox.publisher`: rows on the application's connection, in a savepoint per commit."""

    def __init__(
        self,
        outbox: SqliteOutbox,
        connection: sqlite3.Connection,
        *,
        stream: str,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(stream, key=key, headers=headers)
        self.outbox = outbox
        self.connection = connection

    def __repr__(self) -> str:
        return f"SqlitePublisher({self.outbox!r}, stream={self.stream!r})"

    async def _write(self, event: object, key: str | None, headers: Mapping[str, str]) -> None:
        self.outbox.put(self.connection, event, stream=self.stream, key=key, headers=headers)

    @contextlib.asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        connection = self.connection
        if not connection.in_transaction:
            # A savepoint outside a transaction would be one, committed on release:
            # open the application's transaction instead, for it to commit.
            connection.execute("BEGIN")
        connection.execute("SAVEPOINT mediator_outbox")
        try:
            yield
        except BaseException:
            connection.execute("ROLLBACK TO mediator_outbox")
            connection.execute("RELEASE mediator_outbox")
            raise
        connection.execute("RELEASE mediator_outbox")
