"""Consistent copies of the store while the service runs, and bringing a
service up from one.

The copy uses SQLite's online backup API from its own read connection: it
sees one committed state (WAL lets the service keep writing) and yields to
writers between pages. The index is not copied: it is derived data, rebuilt
from the restored store at the next start.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

from cluster.errors import ConfigurationError
from cluster.store.lock import StoreLock

PAGES_PER_STEP = 1024
STORE_TABLES = frozenset({"meta", "articles", "stories", "assignments", "index_log"})
"""Tables every store has: a backup lacking one is some other SQLite file."""


def backup_store(store_path: Path, destination: Path,
                 progress: Callable[[int, int], None] | None = None) -> int:
    """Copy the store to ``destination`` (written beside it, then renamed into
    place); returns the number of articles in the copy."""
    if not store_path.exists():
        raise ConfigurationError(f"no store at {store_path}")
    if destination.is_dir():
        raise ConfigurationError(f"{destination} is a folder: name the backup file, e.g. "
                                 f"{destination / 'store-backup.sqlite3'}")
    _refuse_the_store_itself(destination, store_path, "write the backup elsewhere")
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=destination.name + ".", suffix=".partial",
                                       dir=destination.parent)
    os.close(handle)
    try:
        source = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
        target = sqlite3.connect(partial)
        try:
            def step(status: int, remaining: int, total: int) -> None:
                if progress:
                    progress(total - remaining, total)

            source.backup(target, pages=PAGES_PER_STEP, progress=step)
            target.execute("PRAGMA journal_mode = DELETE")
            check = target.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise ConfigurationError(f"the copy failed its integrity check: {check}")
            articles = int(target.execute("SELECT COUNT(*) FROM articles").fetchone()[0])
        finally:
            target.close()
            source.close()
        with open(partial, "rb") as done:
            os.fsync(done.fileno())
        os.replace(partial, destination)
        return articles
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def restore_store(backup: Path, store_path: Path, index_dir: Path, force: bool = False) -> None:
    """Put a backup in place as the store (the service must be stopped); index
    snapshots are set aside so the next start rebuilds the index from it."""
    if not backup.is_file():
        raise ConfigurationError(f"no backup at {backup}")
    _refuse_the_store_itself(backup, store_path, "name a backup made by `newsclusters backup`")
    connection = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        check = connection.execute("PRAGMA integrity_check").fetchone()[0]
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as error:
        raise ConfigurationError(f"{backup} is not a store backup ({error})") from None
    finally:
        connection.close()
    if check != "ok":
        raise ConfigurationError(f"{backup} failed its integrity check: {check}")
    if not tables >= STORE_TABLES:
        raise ConfigurationError(f"{backup} is an SQLite file but not a store backup (it has "
                                 f"no {', '.join(sorted(STORE_TABLES - tables))} table)")
    if store_path.exists() and not force:
        raise ConfigurationError(f"{store_path} exists; pass --force to replace it")
    store_path.parent.mkdir(parents=True, exist_ok=True)
    lock = StoreLock(store_path)  # refused while a server or another command writes it
    try:
        staged = store_path.with_name(store_path.name + ".restoring")
        shutil.copyfile(backup, staged)
        for suffix in ("-wal", "-shm"):
            Path(str(store_path) + suffix).unlink(missing_ok=True)
        os.replace(staged, store_path)
        current = index_dir / "CURRENT"
        if current.exists():
            current.unlink()  # the snapshot belongs to the old store
    finally:
        lock.release()


def _refuse_the_store_itself(path: Path, store_path: Path, instead: str) -> None:
    """A backup written over the store (or its journal or lock) would replace
    the file a running server writes to; a restore from it copies nothing."""
    store = store_path.resolve()
    sidecars = {store, *(store.with_name(store.name + suffix)
                         for suffix in ("-wal", "-shm", "-journal", ".lock"))}
    if path.resolve() in sidecars:
        raise ConfigurationError(f"{path} is the store itself: {instead}")
