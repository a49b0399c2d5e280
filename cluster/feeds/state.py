"""Per-feed state, so a restart neither re-polls blindly nor re-ingests:
validators for conditional GET, last poll and its outcome, error count, and
the entries already ingested (by GUID or canonical URL).

Its own SQLite file beside the store (``feeds.sqlite3``): the feed poller is a
client of the story service, not part of its data."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url           TEXT PRIMARY KEY,
    etag          TEXT,
    last_modified TEXT,
    last_poll     REAL,
    last_status   TEXT,
    errors        INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS seen (
    key        TEXT PRIMARY KEY,
    feed_url   TEXT NOT NULL,
    article_id TEXT NOT NULL,
    at         REAL NOT NULL
);
"""


@dataclass(frozen=True)
class FeedRecord:
    url: str
    etag: str | None
    last_modified: str | None
    last_poll: float | None
    last_status: str | None
    errors: int


class FeedState:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def feed(self, url: str) -> FeedRecord:
        with self._lock:
            row = self._db.execute(
                "SELECT url, etag, last_modified, last_poll, last_status, errors FROM feeds "
                "WHERE url = ?", (url,)).fetchone()
        if row is None:
            return FeedRecord(url, None, None, None, None, 0)
        return FeedRecord(*row)

    def record_poll(self, url: str, status: str, *, ok: bool, etag: str | None = None,
                    last_modified: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO feeds (url, etag, last_modified, last_poll, last_status, errors) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET "
                "etag = COALESCE(excluded.etag, etag), "
                "last_modified = COALESCE(excluded.last_modified, last_modified), "
                "last_poll = excluded.last_poll, last_status = excluded.last_status, "
                "errors = CASE WHEN ? THEN 0 ELSE errors + 1 END",
                (url, etag, last_modified, time.time(), status, 0 if ok else 1, int(ok)))

    def unseen(self, keys: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(keys))
        known: set[str] = set()
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                marks = ",".join("?" * len(chunk))
                known.update(k for (k,) in self._db.execute(
                    f"SELECT key FROM seen WHERE key IN ({marks})", chunk))
        return set(wanted) - known

    def mark_seen(self, feed_url: str, entries: Iterable[tuple[str, str]]) -> None:
        """Record (key, article id) pairs once their articles are durably ingested."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO seen (key, feed_url, article_id, at) VALUES (?, ?, ?, ?)",
                [(key, feed_url, article_id, now) for key, article_id in entries])
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
