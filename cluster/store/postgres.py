"""The store on PostgreSQL: the same records and queries as on SQLite, for a
service whose roles run on several machines.

One writer per store, enforced by the server: the writing process holds a
connection-level advisory lock for as long as it has the store open. A second
writer is refused at once, naming the holder; the server drops the lock when
the holder's connection ends, however it ends (a crashed process, a killed
connection), so nothing stale is left. A writer whose connection was lost
takes a new one and the lock again before its next write, and refuses the
write if another writer took the lock meanwhile.

Each write is one transaction, committed (``synchronous_commit`` as the
server sets it: durable by default) before the caller acknowledges anything;
a lost connection rolls the whole transaction back. Readers use their own
per-thread connections, each ``read()`` a ``REPEATABLE READ READ ONLY``
transaction: one consistent snapshot while writes go on.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from cluster.errors import StoreUnavailable
from cluster.store.dialect import POSTGRES
from cluster.store.interface import Reader, Writer
from cluster.store.lock import StoreInUse
from cluster.store.placement_cache import Placements
from cluster.store.postgres_connection import PostgresConnection
from cluster.store.postgres_schema import MIGRATIONS
from cluster.store.reader import SQLReader
from cluster.store.sqlite import ReadOnlyStore, StoreNotReady
from cluster.store.writer import SQLWriter

if TYPE_CHECKING:
    import psycopg

LOG = logging.getLogger(__name__)

WRITER_LOCK = (0x6E657773, 0x636C7573)
"""The advisory lock (two 32-bit keys) the one writer of a database holds;
the writers that share a store (the partitions of a partitioned writer and
their coordinator) hold it shared, each with a lock of its own role."""
TURN_LOCK = (0x6E657773, 0x7475726E)
"""Held by a sharing writer's transaction from its ``take_commit_turn`` to its
commit: the sharing writers change what they share (story rows, storylines,
document frequencies, the index log) one at a time, so the index log's
numbers follow the order of the commits, which readers replay it in."""


def role_lock(role: str) -> tuple[int, int]:
    """The advisory lock of one role among the writers that share a store."""
    return WRITER_LOCK[0], zlib.crc32(role.encode()) & 0x7FFFFFFF

CONNECT_OPTIONS: dict[str, Any] = {
    "connect_timeout": 10,
    # a writer on a dead network must notice, or its lock would outlive it
    "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
}


def redacted(url: str) -> str:
    """The connection URL without its password, for messages and logs."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return "postgresql://(unreadable address)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host') or ''}{port}/{parts.get('dbname') or ''}"


def _describe_self() -> str:
    command = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    # application_name holds 63 bytes
    return f"newsclusters pid {os.getpid()} {command} {time.strftime('%H:%M:%S')}"[:63]


class PostgresStore:
    """Opens the database at ``url``, applies migrations, hands out readers and the
    writer. With ``read_only`` it takes no writer's lock, migrates nothing and
    refuses ``write()``."""

    def __init__(self, url: str, *, read_only: bool = False, role: str | None = None) -> None:
        """``role``: one of the writers that share the store (a partition of a
        partitioned writer, or their coordinator), named uniquely; without it
        the writer is the store's only one."""
        self.url = url
        self.location = redacted(url)
        self.read_only = read_only
        self.role = role
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._all: list[psycopg.Connection[Any]] = []
        self._all_lock = threading.Lock()
        self._placements = Placements()
        self._writer: psycopg.Connection[Any] | None = None
        if read_only:
            version = self._version(self._connect())
            if version != len(MIGRATIONS):
                self.close()
                raise StoreNotReady(
                    f"the store at {self.location} is at schema {version}, this version "
                    f"reads schema {len(MIGRATIONS)}: the writer migrates it when it opens it")
            return
        try:
            self._writer = self._open_writer()
            self._migrate(self._writer)
        except BaseException:
            self.close()
            raise

    # -- connections ---------------------------------------------------------
    def _connect(self, name: str = "newsclusters reader") -> psycopg.Connection[Any]:
        import psycopg

        options = "-c default_transaction_read_only=on" if self.read_only else ""
        try:
            connection = psycopg.connect(self.url, autocommit=True, application_name=name,
                                         options=options, **CONNECT_OPTIONS)
        except psycopg.OperationalError as error:
            raise StoreNotReady(f"cannot reach the store at {self.location}: "
                                f"{str(error).strip().splitlines()[0]}") from None
        with self._all_lock:
            self._all.append(connection)
        return connection

    def _open_writer(self) -> psycopg.Connection[Any]:
        connection = self._connect(_describe_self())
        if self.role is not None:
            self._take_role(connection, self.role)
            return connection
        taken = connection.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", WRITER_LOCK).fetchone()
        if not (taken and taken[0]):
            holder = connection.execute(
                "SELECT a.application_name, a.client_addr FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                "AND l.classid = %s AND l.objid = %s AND l.objsubid = 2 AND l.granted",
                WRITER_LOCK).fetchone()
            self._discard(connection)
            described = "holder unknown" if holder is None else (
                f"{holder[0]}" + (f" from {holder[1]}" if holder[1] else ""))
            raise StoreInUse(
                f"the store {self.location} is in use by another writer ({described}): one "
                "process writes a store at a time. Stop that process first (or send "
                "articles to the running server's API instead of running this command)")
        return connection

    def _take_role(self, connection: psycopg.Connection[Any], role: str) -> None:
        """The store's lock shared (no single writer may open it meanwhile) and
        the role's own lock (no second process may take the same role)."""
        shared = connection.execute(
            "SELECT pg_try_advisory_lock_shared(%s, %s)", WRITER_LOCK).fetchone()
        if not (shared and shared[0]):
            self._discard(connection)
            raise StoreInUse(f"the store {self.location} is in use by a single writer: stop "
                             "it before starting a partitioned writer")
        own = connection.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", role_lock(role)).fetchone()
        if not (own and own[0]):
            self._discard(connection)
            raise StoreInUse(f"{role} of the store {self.location} is already running "
                             "elsewhere: one process takes each role")

    def _discard(self, connection: psycopg.Connection[Any]) -> None:
        with suppress(Exception):
            connection.close()
        with self._all_lock:
            if connection in self._all:
                self._all.remove(connection)

    def _live_writer(self) -> psycopg.Connection[Any]:
        """The writer's connection; a lost one is replaced, taking the lock again."""
        if self._writer is not None and not self._writer.broken and not self._writer.closed:
            return self._writer
        if self._writer is not None:
            LOG.warning("store: the writer's connection to %s was lost; reconnecting",
                        self.location)
            self._discard(self._writer)
            self._writer = None
        self._placements.invalidate()
        self._writer = self._open_writer()
        return self._writer

    # -- schema --------------------------------------------------------------
    @staticmethod
    def _version(connection: psycopg.Connection[Any]) -> int:
        exists = connection.execute("SELECT to_regclass('schema_version')").fetchone()
        if exists is None or exists[0] is None:
            return 0
        row = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0) if row else 0

    def _migrate(self, connection: psycopg.Connection[Any]) -> None:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
        version = self._version(connection)
        if version > len(MIGRATIONS):
            raise StoreNotReady(
                f"the store at {self.location} is at schema {version}, newer than this "
                f"version's {len(MIGRATIONS)}: upgrade newsclusters")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            if version:
                LOG.info("store: migrating to schema %d of %d", number, len(MIGRATIONS))
            with connection.transaction():
                connection.execute(script)
                connection.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))

    @property
    def schema_version(self) -> int:
        connection = self._connect()
        try:
            return self._version(connection)
        finally:
            self._discard(connection)

    # -- transactions ----------------------------------------------------------
    @contextmanager
    def write(self, late_turn: bool = False) -> Iterator[Writer]:
        """The one write transaction: committed on success, rolled back on any
        exception (and by the server when the connection is lost). A writer
        that shares the store takes its commit turn (``TURN_LOCK``) as the
        transaction begins, or with ``late_turn`` only when it calls
        ``take_commit_turn`` or writes its index log entries."""
        if self.read_only:
            raise ReadOnlyStore(f"the store at {self.location} is open for reading only")
        import psycopg

        with self._write_lock:
            connection = self._begin_write()
            try:
                turn = None if self.role is None else _CommitTurn(connection)
                writer = SQLWriter(PostgresConnection(connection), self._placements, POSTGRES,
                                   turn)
                if turn is not None and not late_turn:
                    turn()
                yield writer
                writer.flush()
            except BaseException as error:
                self._placements.invalidate()
                with suppress(Exception):
                    connection.execute("ROLLBACK")
                if isinstance(error, psycopg.OperationalError):
                    raise self._unavailable(error) from error
                raise
            try:
                connection.execute("COMMIT")
            except BaseException as error:
                self._placements.invalidate()
                if isinstance(error, psycopg.OperationalError):
                    raise self._unavailable(error) from error
                raise

    def _begin_write(self) -> psycopg.Connection[Any]:
        """The writer's connection in a new transaction; a connection the server
        dropped since the last write (a restart) is replaced once."""
        import psycopg

        for attempt in (1, 2):
            try:
                connection = self._live_writer()
            except StoreNotReady as error:  # the server is down
                raise StoreUnavailable(str(error)) from None
            try:
                connection.execute("BEGIN")
                return connection
            except psycopg.OperationalError as error:
                if attempt == 2:
                    raise self._unavailable(error) from error
        raise AssertionError("unreachable")

    def _unavailable(self, error: Exception) -> StoreUnavailable:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return StoreUnavailable(f"the store at {self.location} cannot be reached ({first})")

    @contextmanager
    def read(self) -> Iterator[Reader]:
        """A consistent read snapshot on this thread's own connection."""
        import psycopg

        connection: psycopg.Connection[Any] | None = getattr(self._local, "connection", None)
        if connection is not None and (connection.broken or connection.closed):
            self._discard(connection)
            connection = None
        if connection is not None and \
                connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            yield SQLReader(PostgresConnection(connection), POSTGRES)  # nested read
            return
        connection = self._begin_read(connection)
        try:
            yield SQLReader(PostgresConnection(connection), POSTGRES)
        except psycopg.OperationalError as error:
            raise self._unavailable(error) from error
        finally:
            with suppress(psycopg.Error):
                connection.execute("COMMIT")

    def _begin_read(self, connection: psycopg.Connection[Any] | None) -> psycopg.Connection[Any]:
        """This thread's connection in a read transaction; one the server dropped
        (a restart) is replaced once."""
        import psycopg

        for attempt in (1, 2):
            if connection is None:
                try:
                    connection = self._connect()
                except StoreNotReady as error:
                    raise StoreUnavailable(str(error)) from None
                self._local.connection = connection
            try:
                connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                return connection
            except psycopg.OperationalError as error:
                self._discard(connection)
                self._local.connection = connection = None
                if attempt == 2:
                    raise self._unavailable(error) from error
        raise AssertionError("unreachable")

    def ping(self) -> bool:
        with self.read() as reader:
            reader.meta("schema")
        return True

    def close(self) -> None:
        if self._writer is not None and not self._writer.broken and not self._writer.closed:
            # the server ends a closed connection's backend, and with it the lock, a moment
            # later: unlocked here, a writer opened right after this close never sees it
            with suppress(Exception):
                self._writer.execute("SELECT pg_advisory_unlock_all()")
        with self._all_lock:
            connections, self._all = self._all, []
        for connection in connections:
            with suppress(Exception):
                connection.close()
        self._writer = None
        self._local = threading.local()


class _CommitTurn:
    """Takes ``TURN_LOCK`` for the rest of one transaction, once."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection
        self._taken = False

    def __call__(self) -> None:
        if not self._taken:
            self._connection.execute("SELECT pg_advisory_xact_lock(%s, %s)", TURN_LOCK)
            self._taken = True
