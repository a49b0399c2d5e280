"""The store: SQLite in WAL mode, the source of truth.

One writer at a time (a lock around ``write()``), each write one
``BEGIN IMMEDIATE`` transaction committed with ``synchronous=FULL`` before the
caller acknowledges anything. Readers use their own per-thread connections
and read inside a transaction, so each ``read()`` sees one consistent
snapshot while writes go on. Queries live in ``store_reader`` and
``store_writer``; the records in ``records``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from cluster.errors import ClusterError, ConfigurationError
from cluster.store.interface import Reader, Writer
from cluster.store.lock import StoreLock
from cluster.store.placement_cache import Placements
from cluster.store.reader import SQLReader
from cluster.store.records import (
    StoredArticle,
    StoryEvent,
    StoryRow,
    blob_vector,
    narrowed_sum,
    vector_blob,
)
from cluster.store.schema import MIGRATIONS
from cluster.store.writer import SQLWriter

LOG = logging.getLogger(__name__)

__all__ = [
    "ReadOnlyStore", "Reader", "SQLiteStore", "StoreNotReady", "StoredArticle", "StoryEvent",
    "StoryRow", "Writer", "blob_vector", "vector_blob",
]


class ReadOnlyStore(ClusterError):
    """A write was asked of a store opened for reading only."""


class StoreNotReady(ConfigurationError):
    """A reader opened a store that no writer has created or migrated yet."""


class SQLiteStore:
    """Opens the database file, applies migrations, hands out readers and the writer.

    With ``read_only`` (the reader processes) it takes no writer's lock,
    migrates nothing and refuses ``write()``: it only reads what the one
    writing process has committed, and needs that writer to have created
    and migrated the file first."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.location = str(path)
        self.read_only = read_only
        self._process_lock: StoreLock | None = None
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        if read_only:
            self._open_for_reading()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            # one writing process per store (cluster/store/lock.py), before any change
            self._process_lock = StoreLock(path)
            try:
                self._writer = self._connect()
                self._migrate()
            except BaseException:
                self.close()  # a refused migration leaves neither connection nor lock
                raise
        # loaded by the first write, kept in step by the writer (see cluster.store.placement_cache)
        self._placements = Placements()

    def _open_for_reading(self) -> None:
        if not self.path.exists():
            raise StoreNotReady(f"no store at {self.path} yet: the writer creates it")
        self._writer = self._connect()
        version = int(self._writer.execute("PRAGMA user_version").fetchone()[0])
        if version != len(MIGRATIONS):
            self.close()
            raise StoreNotReady(
                f"the store at {self.path} is at schema {version}, this version reads "
                f"schema {len(MIGRATIONS)}: the writer migrates it when it opens it")

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            # mode=ro: this connection can never write, whatever a bug asks of it
            connection = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                check_same_thread=False, timeout=30.0)
            connection.execute("PRAGMA busy_timeout = 30000")
            with self._all_lock:
                self._all.append(connection)
            return connection
        connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA busy_timeout = 30000")
        with self._all_lock:
            self._all.append(connection)
        return connection

    def _migrate(self) -> None:
        with self._write_lock:
            version = int(self._writer.execute("PRAGMA user_version").fetchone()[0])
            if version >= len(MIGRATIONS):
                return
            self._writer.create_function("narrowed_sum", 1, narrowed_sum, deterministic=True)
            # A table rebuilt under its own name would otherwise cascade or fail on
            # the rows that reference it; the check below stands in for the constraint.
            self._writer.execute("PRAGMA foreign_keys = OFF")
            try:
                for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                    self._run_migration(number, script, log=bool(version))
            finally:
                self._writer.execute("PRAGMA foreign_keys = ON")

    def _run_migration(self, number: int, script: str, log: bool) -> None:
        started = time.perf_counter()
        if log:  # a new store's migrations are instant; an old one's may copy data
            LOG.info("store: migrating to schema %d of %d", number, len(MIGRATIONS))
        self._writer.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                self._writer.execute(statement)
            broken = self._writer.execute("PRAGMA foreign_key_check").fetchone()
            if broken is not None:
                raise sqlite3.IntegrityError(
                    f"schema {number} would leave rows of {broken[0]} that refer to missing "
                    f"rows of {broken[2]}")
            self._writer.execute(f"PRAGMA user_version = {number}")
            self._writer.execute("COMMIT")
        except BaseException:
            self._writer.execute("ROLLBACK")
            raise
        if log:
            LOG.info("store: schema %d in %.1f s", number, time.perf_counter() - started)

    @property
    def schema_version(self) -> int:
        return int(self._writer.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def write(self, late_turn: bool = False) -> Iterator[Writer]:
        """The one write transaction: committed (durably) on success, rolled back
        on any exception."""
        if self.read_only:
            raise ReadOnlyStore(f"the store at {self.path} is open for reading only")
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                writer = SQLWriter(self._writer, self._placements)
                yield writer
                writer.flush()
            except BaseException:
                self._writer.execute("ROLLBACK")
                self._placements.invalidate()
                raise
            try:
                self._writer.execute("COMMIT")
            except BaseException:
                self._placements.invalidate()
                raise

    @contextmanager
    def read(self) -> Iterator[Reader]:
        """A consistent read snapshot on this thread's own connection."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
        if connection.in_transaction:  # nested read on the same thread
            yield SQLReader(connection)
            return
        connection.execute("BEGIN")
        try:
            yield SQLReader(connection)
        finally:
            connection.execute("COMMIT")

    def ping(self) -> bool:
        with self.read() as reader:
            reader.meta("schema")
        return True

    def close(self) -> None:
        with self._all_lock:
            for connection in self._all:
                with suppress(sqlite3.Error):
                    connection.close()
            self._all.clear()
        if self._process_lock is not None:
            self._process_lock.release()
            self._process_lock = None


def _statements(script: str) -> list[str]:
    """The statements of a migration: split at each ``;`` that ends one
    (a trigger's body holds several)."""
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending)
            pending = ""
    if pending.strip(" \n;"):
        statements.append(pending)
    return statements
