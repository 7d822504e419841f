"""`SqliteInbox`: the inbox's records in a SQLite table (standard library only).

With a shared transaction, the inbox takes SQLite's write lock first
(``BEGIN IMMEDIATE``), then records the key, then lets the handler write, so
the handler's own statements never wait for the lock.  A handler waiting for
it on the event loop would stop the very loop the lock holder needs to
commit.  SQLite lets one writer in at a time, so the handlers of one process
take turns first, in the order they came, which queues them without the
sleeps of SQLite's busy handler.

What cannot wait runs on the event loop: a statement that finds the lock
held by another process is retried in a worker thread (a thread hop costs
far more than the statement itself), and so is a commit that waits for the
disk (any journal mode but WAL with ``synchronous=NORMAL`` or ``OFF``).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from .._errors import add_note
from ._context import Settle, deferred_commits
from ._inbox import InboxAttempt, InboxError, InboxKey
from ._sqlite import close_all, explicit_transactions, shareable

__all__ = ["SqliteInbox"]

_T = TypeVar("_T")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_APPLIED = InboxAttempt(applied=True)
_FRESH = InboxAttempt(applied=False)
#: Connections kept open between calls, for the next handler.
_KEEP = 8
_WHERE = "SqliteInbox.attempt()"
#: A group takes no more handlers than this, nor any after it has been open for this
#: many seconds: the write lock it holds is what every other writer waits for.
_MOST = 256
_YOUNG = 0.005
_SUSPECTS = 4096
_SAVEPOINT = "SAVEPOINT mediator_inbox"
_RELEASE = "RELEASE mediator_inbox"
_UNDO = "ROLLBACK TO mediator_inbox"
#: The inbox whose shared transaction the current task is in.
_inside: ContextVar[SqliteInbox | None] = ContextVar("mediator_inbox", default=None)


class SqliteInbox:
    """The inbox in a SQLite database, usually the application's own.

    Args:
        database: the database file.
        connect: or a function returning a new connection to it; it must
            pass ``check_same_thread=False`` to ``sqlite3.connect``.
        table: the table's name.
        timeout: seconds a transaction waits for SQLite's write lock.
        clock: the time in Unix seconds (when a key was recorded).
        group_commit: with a shared transaction, let the handlers a worker
            runs back to back share one transaction, each in a savepoint of
            its own, committed before their acks: one commit for many
            handlers.  The write lock is then held across them (for at most
            5 ms while events keep coming, or until the worker runs out of
            them), so other code writing to the database waits that long
            more; never write to it synchronously on the event loop then.
    """

    def __init__(
        self,
        *,
        database: str | os.PathLike[str] | None = None,
        connect: Callable[[], sqlite3.Connection] | None = None,
        table: str = "mediator_inbox",
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        group_commit: bool = False,
    ) -> None:
        if database is None and connect is None:
            raise InboxError("SqliteInbox()", "no-database", option="database", value=None)
        if not _NAME.match(str(table)):
            raise InboxError("SqliteInbox()", "table", option="table", value=table)
        self.table = table
        self._database = database
        self._connect = connect
        self._timeout = timeout
        self._clock = clock
        self._idle: list[sqlite3.Connection] = []
        weakref.finalize(self, close_all, self._idle)
        self._writer = _Turns()
        self._record = f"INSERT OR IGNORE INTO {table} VALUES (?, ?, ?, ?)"
        self._slow_commit: bool | None = None
        self._group_commit = bool(group_commit)
        #: The transaction open for the next handler to join (with group_commit).
        self._group: _Group | None = None
        #: Keys whose group failed to commit: they come back and commit alone, so that
        #: one handler whose writes cannot commit does not fail the others again.
        self._suspects: dict[InboxKey, None] = {}

    def __repr__(self) -> str:
        return f"SqliteInbox(table={self.table!r}, database={self._database!r})"

    def create(self, connection: sqlite3.Connection) -> None:
        """Create the table if it does not exist (commits, like any DDL)."""
        connection.executescript(
            f"""
            CREATE TABLE IF NOT EXISTS {self.table} (
                grp TEXT NOT NULL,
                event_id TEXT NOT NULL,
                handler TEXT NOT NULL,
                applied_at REAL NOT NULL,
                PRIMARY KEY (grp, event_id, handler)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS {self.table}_applied ON {self.table} (applied_at);
            """
        )

    def attempt(
        self, key: InboxKey | None, *, share: bool
    ) -> contextlib.AbstractAsyncContextManager[InboxAttempt]:
        if not share:
            return self._alone(key)
        return _Joined(self, key) if self._group_commit else _Shared(self, key)

    @contextlib.asynccontextmanager
    async def _alone(self, key: InboxKey | None) -> AsyncIterator[InboxAttempt]:
        if key is None:  # nothing to check or record
            yield _FRESH
            return
        if _inside.get() is self:  # its record would wait for the lock its own task holds
            raise InboxError(_WHERE, "nested", option="key", value=key)
        if self._group is not None:  # its statements would wait for the group's lock
            await self._commit_open()
        if await self._quick(self._seen, key):
            yield _APPLIED
            return
        yield _FRESH
        if self._group is not None:  # opened meanwhile, by a handler running alongside
            await self._commit_open()
        await self._quick(self._record_alone, key)

    async def applied(self) -> list[InboxKey]:
        """Every recorded key, oldest first: for tests and inspection."""
        return await self._run(self._keys)

    async def prune(self, older_than: datetime) -> int:
        """Forget the keys recorded before ``older_than``; returns how many.

        Keep them longer than an event can take to come back (the engine's
        retention of pending entries, a relay's longest outage).
        """
        return await self._run(self._prune, older_than.timestamp())

    def close(self) -> None:
        """Close the connections kept for the next handlers (and roll back an open group)."""
        group = self._group
        if group is not None:
            self._end(group, sqlite3.ProgrammingError("SqliteInbox.close() came before the commit"))
        close_all(self._idle)

    # -- connections ------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if self._connect is not None:
            connection = self._connect()
            if not shareable(connection):
                connection.close()
                raise InboxError("SqliteInbox()", "thread", option="connect", value=self._connect)
        else:
            assert self._database is not None
            connection = sqlite3.connect(self._database, check_same_thread=False)
        explicit_transactions(connection)  # the transactions below say BEGIN themselves
        connection.execute("PRAGMA busy_timeout = 0")  # on the loop: never wait, see _quick
        return connection

    def _take(self) -> sqlite3.Connection:
        return self._idle.pop() if self._idle else self._open()

    def _give_back(self, connection: sqlite3.Connection, clean: bool) -> None:
        if clean and not connection.in_transaction and len(self._idle) < _KEEP:
            self._idle.append(connection)
        else:
            connection.close()

    def _commit_waits(self, connection: sqlite3.Connection) -> bool:
        """Whether a commit on ``connection`` waits for the disk (found once per database)."""
        if self._slow_commit is None:
            (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
            (sync,) = connection.execute("PRAGMA synchronous").fetchone()
            self._slow_commit = not (str(mode).lower() == "wal" and int(sync) <= 1)
        return self._slow_commit

    async def _quick(
        self,
        function: Callable[..., _T],
        *args: Any,
        connection: sqlite3.Connection | None = None,
    ) -> _T:
        """``function(connection, *args)`` on the loop, or in a thread if the lock is taken.

        The statements are retried whole: one refused for a lock changed nothing.
        """
        own = connection is None
        used = self._take() if connection is None else connection
        clean = False
        try:
            try:
                result = function(used, *args)
            except sqlite3.OperationalError as error:
                if not _busy(error):
                    raise
                result = await self._in_thread(_waiting, used, self._timeout, function, *args)
            clean = True
            return result
        finally:
            if own:
                self._give_back(used, clean)

    async def _in_thread(self, function: Callable[..., _T], *args: Any) -> _T:
        return await anyio.to_thread.run_sync(function, *args)

    async def _run(self, function: Callable[..., _T], *args: Any) -> _T:
        """``function(connection, *args)`` in a worker thread, on a connection of its own."""
        connection = self._take()
        clean = False
        try:
            result: _T = await self._in_thread(_waiting, connection, self._timeout, function, *args)
            clean = True
            return result
        finally:
            self._give_back(connection, clean)

    # -- group commit (the writer's turn held) ------------------------------------------

    async def _open_group(self) -> _Group:
        connection = self._take()
        try:
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if not _busy(error):
                    raise
                await self._in_thread(_waiting, connection, self._timeout, _begin)
        except BaseException:
            connection.close()  # rolls back what it began
            raise
        group = self._group = _Group(self, connection)
        return group

    async def _commit_open(self) -> None:
        """Commit the open group now (its failure is for the worker to see)."""
        group = self._group
        if group is not None:
            await self._settle(group)

    async def _settle(self, group: _Group) -> None:
        """Commit ``group`` once the writer's turn is free: a handler inside may still write."""
        await self._writer.take()
        try:
            if not group.done:
                with contextlib.suppress(Exception):  # kept in group.failure
                    await self._commit(group)
        finally:
            self._writer.release()

    async def _commit(self, group: _Group) -> None:
        """Commit ``group``, or end it with the failure; its outcome is in ``group.failure``."""
        connection = group.connection
        if not _open(connection):  # a handler ended or closed it, unseen: nothing to commit
            last = group.keys[-1] if group.keys else None
            lost = InboxError(_WHERE, "shared", option="key", value=last)
            self._end(group, lost)
            raise lost
        try:
            await self._commit_connection(connection)
        except BaseException as error:
            self._end(group, error)
            raise
        self._end(group, None)

    async def _commit_connection(self, connection: sqlite3.Connection) -> None:
        if self._commit_waits(connection):  # waits for the disk: in a thread
            await self._in_thread(_waiting, connection, self._timeout, _commit)
        else:  # on the loop, or in a thread if a reader holds the lock it needs
            try:
                _commit(connection)
            except sqlite3.OperationalError as failure:
                if not _busy(failure):
                    raise
                await self._in_thread(_waiting, connection, self._timeout, _commit)

    def _end(self, group: _Group, failure: BaseException | None) -> None:
        """``group`` is over: committed, or (``failure``) rolled back with its connection."""
        if group.done:
            return
        group.done = True
        group.failure = failure
        if self._group is group:
            self._group = None
        suspects = self._suspects
        if failure is None:
            self._give_back(group.connection, True)
            if suspects:
                for key in group.keys:
                    suspects.pop(key, None)
            return
        group.connection.close()  # rolls back whatever is left
        for key in group.keys:
            suspects[key] = None
        while len(suspects) > _SUSPECTS:
            del suspects[next(iter(suspects))]

    # -- in the worker thread ------------------------------------------------------------

    def _begin(self, connection: sqlite3.Connection, key: InboxKey | None) -> bool:
        """Take the write lock and record ``key``; False (rolled back) if it was recorded."""
        connection.execute("BEGIN IMMEDIATE")
        if key is None:
            return True
        try:
            cursor = connection.execute(
                self._record, (key.group, key.event_id, key.handler, self._clock())
            )
        except BaseException:
            _rollback(connection)
            raise
        if cursor.rowcount == 0:
            _rollback(connection)
            return False
        return True

    def _seen(self, connection: sqlite3.Connection, key: InboxKey) -> bool:
        row = connection.execute(
            f"SELECT 1 FROM {self.table} WHERE grp = ? AND event_id = ? AND handler = ?",
            (key.group, key.event_id, key.handler),
        ).fetchone()
        return row is not None

    def _record_alone(self, connection: sqlite3.Connection, key: InboxKey) -> None:
        connection.execute(self._record, (key.group, key.event_id, key.handler, self._clock()))

    def _keys(self, connection: sqlite3.Connection) -> list[InboxKey]:
        cursor = connection.execute(
            f"SELECT grp, event_id, handler FROM {self.table} ORDER BY applied_at, event_id"
        )
        return [InboxKey(group, event_id, handler) for group, event_id, handler in cursor]

    def _prune(self, connection: sqlite3.Connection, before: float) -> int:
        return connection.execute(
            f"DELETE FROM {self.table} WHERE applied_at < ?", (before,)
        ).rowcount


class _Turns:
    """The inbox's writer: one at a time, the others served in the order they came.

    What `anyio.Lock` does, for a tenth of its cost when the turn is free
    (0.1 against 1 µs): the lock finds the current task on each acquire and
    release, to refuse re-entry, which the "nested" check has done already.
    `take` takes a free turn by setting ``held``, with no trip through the
    event loop, and waits for a taken one.
    """

    __slots__ = ("_queue", "held")

    def __init__(self) -> None:
        self.held = False
        self._queue: deque[anyio.Event] = deque()

    async def take(self) -> None:
        """The turn: taken at once if free (no trip through the event loop), else waited for."""
        if self.held:
            await self.wait()
        else:
            self.held = True

    async def wait(self) -> None:
        """Wait for the holder's `release` to hand the turn over (``held`` stays True)."""
        turn = anyio.Event()
        self._queue.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():  # handed over as this task was cancelled: pass it on
                self.release()
            else:
                self._queue.remove(turn)
            raise

    def release(self) -> None:
        if self._queue:
            self._queue.popleft().set()
        else:
            self.held = False


class _Shared:
    """One `SqliteInbox.attempt` in a shared transaction.

    A class rather than a generator-based context manager: this runs once
    per handler call, and a generator costs several times more to make and
    to drive.  The statements run on the loop directly; only one refused for
    the lock, or a commit that waits for the disk, goes to a thread.
    """

    __slots__ = ("_connection", "_inbox", "_key", "_token")

    def __init__(self, inbox: SqliteInbox, key: InboxKey | None) -> None:
        self._inbox = inbox
        self._key = key
        self._connection: sqlite3.Connection | None = None

    async def __aenter__(self) -> InboxAttempt:
        inbox, key = self._inbox, self._key
        if _inside.get() is inbox:
            raise InboxError(_WHERE, "nested", option="key", value=key)
        writer = inbox._writer
        await writer.take()
        connection: sqlite3.Connection | None = None
        try:
            connection = inbox._take()
            try:
                fresh = inbox._begin(connection, key)
            except sqlite3.OperationalError as error:
                if not _busy(error):
                    raise
                fresh = await inbox._in_thread(
                    _waiting, connection, inbox._timeout, inbox._begin, key
                )
        except BaseException:
            if connection is not None:
                connection.close()  # rolls back what it began
            writer.release()
            raise
        if not fresh:  # recorded already, and rolled back: nothing left to hold
            inbox._give_back(connection, True)
            writer.release()
            return _APPLIED
        self._connection = connection
        self._token = _inside.set(inbox)
        return InboxAttempt(applied=False, transaction=connection)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection = self._connection
        if connection is None:  # the key was recorded: the handler did not run
            return
        self._connection = None
        inbox = self._inbox
        clean = False
        try:
            if error is not None:
                if not connection.in_transaction:  # the handler ended it: its record is gone too
                    add_note(
                        error, str(InboxError(_WHERE, "committed", option="key", value=self._key))
                    )
                with anyio.CancelScope(shield=True):
                    await inbox._quick(_rollback, connection=connection)
                clean = True
                return  # the error goes on
            if not connection.in_transaction:
                # The record committed with what the handler wrote before its own commit;
                # what it wrote after is outside any transaction.  A mistake to show.
                clean = True
                raise InboxError(_WHERE, "committed", option="key", value=self._key)
            await inbox._commit_connection(connection)
            clean = True
        finally:
            _inside.reset(self._token)
            inbox._give_back(connection, clean)
            inbox._writer.release()


def _busy(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def _waiting(
    connection: sqlite3.Connection, timeout: float, function: Callable[..., _T], *args: Any
) -> _T:
    """``function(connection, *args)``, waiting up to ``timeout`` seconds for SQLite's locks."""
    connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    try:
        return function(connection, *args)
    finally:
        connection.execute("PRAGMA busy_timeout = 0")


def _open(connection: sqlite3.Connection) -> bool:
    """Whether ``connection`` is in a transaction (not if a handler closed it)."""
    try:
        return connection.in_transaction
    except sqlite3.ProgrammingError:
        return False


def _begin(connection: sqlite3.Connection) -> None:
    connection.execute("BEGIN IMMEDIATE")


def _commit(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:  # else the handler committed it, the record with it
        connection.execute("COMMIT")


def _rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        connection.execute("ROLLBACK")


class _Group:
    """Handlers' writes in one transaction, each in a savepoint, committed together.

    The worker commits it (`settle`) before it acks their entries, so a
    handler's call returns before its commit; one that fails to commit
    leaves every entry in it pending, to come back.
    """

    __slots__ = ("attempt", "connection", "done", "failure", "inbox", "keys", "opened")

    def __init__(self, inbox: SqliteInbox, connection: sqlite3.Connection) -> None:
        self.inbox = inbox
        self.connection = connection
        self.attempt = InboxAttempt(applied=False, transaction=connection)  # for each handler
        self.keys: list[InboxKey] = []
        self.opened = time.monotonic()
        self.done = False
        self.failure: BaseException | None = None

    async def settle(self) -> BaseException | None:
        if not self.done:
            await self.inbox._settle(self)
        return self.failure


class _Joined:
    """One `SqliteInbox.attempt` in the group's transaction (``group_commit=True``)."""

    __slots__ = ("_commits", "_group", "_inbox", "_joined", "_key", "_token")

    def __init__(self, inbox: SqliteInbox, key: InboxKey | None) -> None:
        self._inbox = inbox
        self._key = key
        self._group: _Group | None = None
        self._joined = False
        #: Where the worker collects this delivery's commits; None: commit before returning.
        self._commits: list[Settle] | None = None

    async def __aenter__(self) -> InboxAttempt:
        inbox, key = self._inbox, self._key
        if _inside.get() is inbox:
            raise InboxError(_WHERE, "nested", option="key", value=key)
        writer = inbox._writer
        await writer.take()
        try:
            group = inbox._group
            suspects = inbox._suspects
            commits = deferred_commits() if key is not None else None
            if commits is not None and suspects and key in suspects:
                commits = None  # its last group failed: this time it commits alone
            if group is not None and commits is None:
                # It commits before it returns, so it must not take the others' writes (or
                # their failure) with it: they commit first.
                with contextlib.suppress(Exception):  # their failure is theirs (settle)
                    await inbox._commit(group)
                group = None
            if group is None:
                group = await inbox._open_group()
            connection = group.connection
            joined = bool(group.keys)  # after others: a savepoint undoes only its own writes
            try:
                if joined:
                    connection.execute(_SAVEPOINT)
                fresh = key is None or (
                    connection.execute(
                        inbox._record, (key.group, key.event_id, key.handler, inbox._clock())
                    ).rowcount
                    == 1
                )
            except BaseException:
                self._undo(group, joined)
                raise
            if not fresh:  # recorded already: it changed nothing
                self._undo(group, joined)
                if joined and commits is not None:  # the record may be this group's, uncommitted:
                    commits.append(group)  # the skip is acked only once it is committed
                writer.release()
                return _APPLIED
        except BaseException:
            writer.release()
            raise
        self._group, self._joined, self._commits = group, joined, commits
        self._token = _inside.set(inbox)
        return group.attempt

    def _undo(self, group: _Group, joined: bool) -> None:
        """Take this handler's part out of ``group``, which ends if it was alone in it."""
        inbox, connection = self._inbox, group.connection
        if not _open(connection):  # the handler ended or closed it: the others' with it
            inbox._end(group, InboxError(_WHERE, "shared", option="key", value=self._key))
            return
        try:
            if joined:
                connection.execute(_UNDO)
                connection.execute(_RELEASE)
            else:  # it opened the group: nobody else's writes are in it
                connection.execute("ROLLBACK")
                inbox._end(group, None)
        except BaseException as failure:  # its writes could stay in: the group is lost
            inbox._end(group, failure)
            raise

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        group = self._group
        if group is None:  # the key was recorded: the handler did not run
            return
        self._group = None
        inbox, key = self._inbox, self._key
        connection = group.connection
        try:
            if error is not None:
                if not _open(connection):
                    add_note(error, str(InboxError(_WHERE, "committed", option="key", value=key)))
                self._undo(group, self._joined)  # no await: nothing can cut it short
                return  # the error goes on
            if not _open(connection):  # the handler ended or closed it: the others' with it
                inbox._end(group, InboxError(_WHERE, "shared", option="key", value=key))
                raise InboxError(_WHERE, "committed", option="key", value=key)
            if self._joined:
                try:
                    connection.execute(_RELEASE)
                except BaseException as failure:
                    inbox._end(group, failure)
                    raise
            commits = self._commits
            if key is not None:
                group.keys.append(key)
            if (
                commits is not None
                and len(group.keys) < _MOST
                and time.monotonic() - group.opened < _YOUNG
            ):
                commits.append(group)  # the worker commits it before the ack
                return
            await inbox._commit(group)
        finally:
            _inside.reset(self._token)
            inbox._writer.release()
