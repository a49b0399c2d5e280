"""The store: SQLite in WAL mode, the source of truth.

One writer at a time (a lock around ``write()``), each write one
``BEGIN IMMEDIATE`` transaction committed with ``synchronous=FULL`` before the
caller acknowledges anything. Readers use their own per-thread connections
and read inside a transaction, so each ``read()`` sees one consistent
snapshot while writes go on.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cluster.articles import Article
from cluster.schema import MIGRATIONS
from cluster.types import ArticleKey, Matrix, StoryId, Vector

ARTICLE_COLUMNS = (
    "a.key, a.id, a.title, a.text, a.source, a.url, a.published_at, a.lang, "
    "a.content_hash, a.embed_hash, a.duplicate_of, s.story_id, s.score, s.new_story"
)
STORY_COLUMNS = (
    "id, status, first_seen, last_updated, activity, article_count, source_count, "
    "centroid_sum, label, representative, merged_into, dirty"
)


@dataclass(frozen=True)
class StoredArticle:
    key: ArticleKey
    id: str
    title: str
    text: str
    source: str
    url: str | None
    published_at: float | None
    lang: str | None
    content_hash: str
    embed_hash: str
    duplicate_of: str | None
    story_id: StoryId | None
    score: float | None
    new_story: bool


@dataclass(frozen=True)
class StoryRow:
    id: StoryId
    status: str
    first_seen: float | None
    last_updated: float | None
    activity: float
    article_count: int
    source_count: int
    centroid_sum: np.ndarray
    label: str
    representative: ArticleKey | None
    merged_into: StoryId | None
    dirty: bool


@dataclass(frozen=True)
class StoryEvent:
    seq: int
    story_id: StoryId
    kind: str
    at: float | None
    article_id: str | None
    other_id: StoryId | None


def _article(row: sqlite3.Row) -> StoredArticle:
    return StoredArticle(
        key=ArticleKey(row[0]), id=row[1], title=row[2], text=row[3], source=row[4], url=row[5],
        published_at=row[6], lang=row[7], content_hash=row[8], embed_hash=row[9],
        duplicate_of=row[10], story_id=None if row[11] is None else StoryId(row[11]),
        score=row[12], new_story=bool(row[13]),
    )


def _story(row: sqlite3.Row) -> StoryRow:
    return StoryRow(
        id=StoryId(row[0]), status=row[1], first_seen=row[2], last_updated=row[3],
        activity=row[4], article_count=row[5], source_count=row[6],
        centroid_sum=np.frombuffer(row[7], dtype=np.float64).copy(), label=row[8],
        representative=None if row[9] is None else ArticleKey(row[9]),
        merged_into=None if row[10] is None else StoryId(row[10]), dirty=bool(row[11]),
    )


def vector_blob(vector: Vector) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def blob_vector(blob: bytes) -> Vector:
    return np.frombuffer(blob, dtype=np.float32).copy()


class Reader:
    """Queries over one connection; every method is read-only."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    # -- meta --------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # -- articles ----------------------------------------------------------
    def article_by_id(self, article_id: str) -> StoredArticle | None:
        row = self._db.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles a "
            "LEFT JOIN assignments s ON s.article_key = a.key WHERE a.id = ?", (article_id,)
        ).fetchone()
        return None if row is None else _article(row)

    def articles_by_keys(self, keys: Iterable[int]) -> dict[ArticleKey, StoredArticle]:
        wanted = sorted({int(k) for k in keys})
        found: dict[ArticleKey, StoredArticle] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT {ARTICLE_COLUMNS} FROM articles a LEFT JOIN assignments s "
                f"ON s.article_key = a.key WHERE a.key IN ({marks})", chunk,
            ):
                article = _article(row)
                found[article.key] = article
        return found

    def placement(self, keys: Iterable[int]) -> dict[int, tuple[StoryId, float | None]]:
        """(story, publication time) of each assigned key; the clusterer's hot path."""
        wanted = [int(k) for k in keys]
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        return {k: (s, t) for k, s, t in self._db.execute(
            f"SELECT s.article_key, s.story_id, a.published_at FROM assignments s "
            f"JOIN articles a ON a.key = s.article_key WHERE s.article_key IN ({marks})", wanted,
        )}

    def story_span(self, story_id: int) -> tuple[float | None, float | None]:
        row = self._db.execute(
            "SELECT MIN(a.published_at), MAX(a.published_at) FROM assignments s "
            "JOIN articles a ON a.key = s.article_key WHERE s.story_id = ?", (story_id,),
        ).fetchone()
        return row[0], row[1]

    def vectors(self, keys: Sequence[int]) -> Matrix:
        """Vectors of the given keys, in the given order."""
        by_key: dict[int, bytes] = {}
        unique = sorted(set(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            marks = ",".join("?" * len(chunk))
            by_key.update(self._db.execute(
                f"SELECT key, vector FROM articles WHERE key IN ({marks})", chunk
            ).fetchall())
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([np.frombuffer(by_key[k], dtype=np.float32) for k in keys])

    def article_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM articles").fetchone()[0])

    def iter_articles_in_time_order(self, batch: int = 1000) -> Iterator[list[StoredArticle]]:
        """All articles by publication time (undated last), ties by id."""
        last: tuple[int, float, str] | None = None
        while True:
            if last is None:
                where, params = "", []
            else:
                where = ("WHERE (a.published_at IS NULL, COALESCE(a.published_at, 0), a.id) "
                         "> (?, ?, ?)")
                params = list(last)
            rows = self._db.execute(
                f"SELECT {ARTICLE_COLUMNS} FROM articles a LEFT JOIN assignments s "
                f"ON s.article_key = a.key {where} ORDER BY a.published_at IS NULL, "
                "COALESCE(a.published_at, 0), a.id LIMIT ?", [*params, batch],
            ).fetchall()
            if not rows:
                return
            chunk = [_article(r) for r in rows]
            tail = chunk[-1]
            last = (int(tail.published_at is None), tail.published_at or 0.0, tail.id)
            yield chunk

    def iter_vectors(self, batch: int = 5000) -> Iterator[tuple[np.ndarray, Matrix]]:
        """(keys, vectors) of every article, by key."""
        last = -1
        while True:
            rows = self._db.execute(
                "SELECT key, vector FROM articles WHERE key > ? ORDER BY key LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            keys = np.array([r[0] for r in rows], dtype=np.int64)
            vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            last = int(keys[-1])
            yield keys, vectors

    def term_frequencies(self) -> dict[str, int]:
        return {str(t): int(n) for t, n in self._db.execute("SELECT term, df FROM term_df")}

    # -- index log ---------------------------------------------------------
    def index_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM index_log").fetchone()
        return int(row[0] or 0)

    def index_ops_since(self, seq: int) -> list[tuple[int, ArticleKey, str]]:
        return [
            (int(s), ArticleKey(k), str(op)) for s, k, op in self._db.execute(
                "SELECT seq, article_key, op FROM index_log WHERE seq > ? ORDER BY seq", (seq,)
            )
        ]

    # -- stories -----------------------------------------------------------
    def story(self, story_id: int) -> StoryRow | None:
        row = self._db.execute(
            f"SELECT {STORY_COLUMNS} FROM stories WHERE id = ?", (story_id,)
        ).fetchone()
        return None if row is None else _story(row)

    def stories_by_ids(self, ids: Iterable[int]) -> dict[StoryId, StoryRow]:
        wanted = sorted(set(ids))
        marks = ",".join("?" * len(wanted))
        rows = self._db.execute(
            f"SELECT {STORY_COLUMNS} FROM stories WHERE id IN ({marks})", wanted
        ).fetchall() if wanted else []
        return {StoryId(r[0]): _story(r) for r in rows}

    def stories_with_status(self, statuses: Sequence[str]) -> list[StoryRow]:
        marks = ",".join("?" * len(statuses))
        return [_story(r) for r in self._db.execute(
            f"SELECT {STORY_COLUMNS} FROM stories WHERE status IN ({marks}) ORDER BY id",
            list(statuses),
        )]

    def list_stories(
        self, statuses: Sequence[str], limit: int, after: tuple[float, int] | None
    ) -> list[StoryRow]:
        """Most recent activity first; ``after`` is the (activity, id) of the last
        item of the previous page."""
        marks = ",".join("?" * len(statuses))
        params: list[object] = list(statuses)
        where = f"status IN ({marks})"
        if after is not None:
            where += " AND (activity < ? OR (activity = ? AND id < ?))"
            params += [after[0], after[0], after[1]]
        rows = self._db.execute(
            f"SELECT {STORY_COLUMNS} FROM stories WHERE {where} "
            "ORDER BY activity DESC, id DESC LIMIT ?", [*params, limit],
        ).fetchall()
        return [_story(r) for r in rows]

    def story_articles(
        self, story_id: int, limit: int | None = None, after: tuple[float, int] | None = None
    ) -> list[StoredArticle]:
        """A story's articles by publication time, then key."""
        params: list[object] = [story_id]
        where = "s.story_id = ?"
        if after is not None:
            where += " AND (COALESCE(a.published_at, 0), a.key) > (?, ?)"
            params += [after[0], after[1]]
        sql = (f"SELECT {ARTICLE_COLUMNS} FROM assignments s JOIN articles a "
               f"ON a.key = s.article_key WHERE {where} "
               "ORDER BY COALESCE(a.published_at, 0), a.key")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_article(r) for r in self._db.execute(sql, params)]

    def member_keys(self, story_id: int) -> list[ArticleKey]:
        """A story's article keys, oldest first."""
        return [ArticleKey(k) for (k,) in self._db.execute(
            "SELECT article_key FROM assignments WHERE story_id = ? ORDER BY article_key",
            (story_id,))]

    def story_sources(self, story_id: int) -> list[tuple[str, int]]:
        return [(str(s), int(n)) for s, n in self._db.execute(
            "SELECT a.source, COUNT(*) AS n FROM assignments s JOIN articles a "
            "ON a.key = s.article_key WHERE s.story_id = ? GROUP BY a.source "
            "ORDER BY n DESC, a.source", (story_id,),
        )]

    def story_events(self, story_id: int) -> list[StoryEvent]:
        return [StoryEvent(int(r[0]), StoryId(r[1]), r[2], r[3], r[4], r[5]) for r in
                self._db.execute(
                    "SELECT seq, story_id, kind, at, article_id, other_id FROM story_events "
                    "WHERE story_id = ? ORDER BY seq", (story_id,))]

    def story_count(self, statuses: Sequence[str]) -> int:
        marks = ",".join("?" * len(statuses))
        return int(self._db.execute(
            f"SELECT COUNT(*) FROM stories WHERE status IN ({marks})", list(statuses)
        ).fetchone()[0])

    def assignments(self) -> dict[str, StoryId]:
        return {str(i): StoryId(s) for i, s in self._db.execute(
            "SELECT a.id, s.story_id FROM assignments s JOIN articles a ON a.key = s.article_key"
        )}


class Writer(Reader):
    """Reads and writes inside the single write transaction.

    Index-log rows and story events are append-only and not read back while
    a batch is written, so they are buffered and inserted with one
    ``executemany`` each before anything that reads or rewrites them and
    before the commit."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__(connection)
        self._index_rows: list[tuple[int, str]] = []
        self._event_rows: list[tuple[int, str, float | None, str | None, int | None]] = []

    def flush(self) -> None:
        if self._index_rows:
            self._db.executemany(
                "INSERT INTO index_log (article_key, op) VALUES (?, ?)", self._index_rows)
            self._index_rows.clear()
        if self._event_rows:
            self._db.executemany(
                "INSERT INTO story_events (story_id, kind, at, article_id, other_id) "
                "VALUES (?, ?, ?, ?, ?)", self._event_rows)
            self._event_rows.clear()

    def index_seq(self) -> int:
        self.flush()
        return super().index_seq()

    def index_ops_since(self, seq: int) -> list[tuple[int, ArticleKey, str]]:
        self.flush()
        return super().index_ops_since(seq)

    def story_events(self, story_id: int) -> list[StoryEvent]:
        self.flush()
        return super().story_events(story_id)

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value),
        )

    def insert_article(
        self, article: Article, vector: Vector, embed_hash: str, duplicate_of: str | None = None
    ) -> ArticleKey:
        cursor = self._db.execute(
            "INSERT INTO articles (id, title, text, source, url, published_at, lang, "
            "content_hash, embed_hash, vector, duplicate_of, ingested_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (article.id, article.title, article.text, article.source, article.url,
             article.timestamp, article.lang, article.content_hash, embed_hash,
             vector_blob(vector), duplicate_of, time.time()),
        )
        key = ArticleKey(int(cursor.lastrowid or 0))
        self.log_index(key, "add")
        return key

    def update_article(
        self, key: ArticleKey, article: Article, vector: Vector, embed_hash: str
    ) -> None:
        self._db.execute(
            "UPDATE articles SET title = ?, text = ?, source = ?, url = ?, published_at = ?, "
            "lang = ?, content_hash = ?, embed_hash = ?, vector = ?, ingested_at = ? "
            "WHERE key = ?",
            (article.title, article.text, article.source, article.url, article.timestamp,
             article.lang, article.content_hash, embed_hash, vector_blob(vector), time.time(),
             key),
        )
        self.log_index(key, "add")

    def update_vector(self, key: ArticleKey, vector: Vector, embed_hash: str) -> None:
        self._db.execute(
            "UPDATE articles SET vector = ?, embed_hash = ? WHERE key = ?",
            (vector_blob(vector), embed_hash, key),
        )

    def delete_article(self, key: ArticleKey) -> None:
        self._db.execute("DELETE FROM assignments WHERE article_key = ?", (key,))
        self._db.execute("DELETE FROM articles WHERE key = ?", (key,))
        self.log_index(key, "remove")

    def log_index(self, key: ArticleKey, op: str) -> None:
        self._index_rows.append((key, op))

    def assign(self, key: ArticleKey, story_id: StoryId, score: float | None, new: bool) -> None:
        self._db.execute(
            "INSERT INTO assignments (article_key, story_id, score, new_story) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (article_key) DO UPDATE SET story_id = excluded.story_id, "
            "score = excluded.score, new_story = excluded.new_story",
            (key, story_id, score, int(new)),
        )

    def unassign(self, key: ArticleKey) -> None:
        self._db.execute("DELETE FROM assignments WHERE article_key = ?", (key,))

    def move_assignments(self, from_story: StoryId, to_story: StoryId) -> None:
        self._db.execute(
            "UPDATE assignments SET story_id = ? WHERE story_id = ?", (to_story, from_story)
        )

    def create_story(self, story_id: StoryId | None = None) -> StoryId:
        cursor = self._db.execute(
            "INSERT INTO stories (id, activity, article_count, source_count, centroid_sum) "
            "VALUES (?, 0, 0, 0, x'')", (story_id,),
        )
        return StoryId(int(cursor.lastrowid or 0))

    def save_story(
        self, story_id: StoryId, *, status: str, first_seen: float | None,
        last_updated: float | None, activity: float, article_count: int,
        centroid_sum: np.ndarray, merged_into: StoryId | None = None,
    ) -> None:
        self._db.execute(
            "UPDATE stories SET status = ?, first_seen = ?, last_updated = ?, activity = ?, "
            "article_count = ?, centroid_sum = ?, merged_into = ?, dirty = 1 "
            "WHERE id = ?",
            (status, first_seen, last_updated, activity, article_count,
             np.ascontiguousarray(centroid_sum, dtype=np.float64).tobytes(), merged_into,
             story_id),
        )

    def set_story_presentation(
        self, story_id: StoryId, label: str, representative: ArticleKey | None
    ) -> None:
        """Label, representative and source count, once per batch per changed story."""
        source_count = int(self._db.execute(
            "SELECT COUNT(DISTINCT a.source) FROM assignments s JOIN articles a "
            "ON a.key = s.article_key WHERE s.story_id = ?", (story_id,),
        ).fetchone()[0])
        self._db.execute(
            "UPDATE stories SET label = ?, representative = ?, source_count = ?, dirty = 0 "
            "WHERE id = ?", (label, representative, source_count, story_id),
        )

    def set_status(self, story_id: StoryId, status: str) -> None:
        self._db.execute("UPDATE stories SET status = ? WHERE id = ?", (status, story_id))

    def delete_story(self, story_id: StoryId) -> None:
        self.flush()
        self._db.execute("DELETE FROM stories WHERE id = ?", (story_id,))
        self._db.execute("DELETE FROM story_events WHERE story_id = ?", (story_id,))

    def dirty_stories(self) -> list[StoryId]:
        return [StoryId(r[0]) for r in self._db.execute(
            "SELECT id FROM stories WHERE dirty = 1 AND status != 'merged' ORDER BY id")]

    def add_event(
        self, story_id: StoryId, kind: str, at: float | None,
        article_id: str | None = None, other_id: StoryId | None = None,
    ) -> None:
        self._event_rows.append((story_id, kind, at, article_id, other_id))

    def rename_stories(self, renames: Sequence[tuple[StoryId, StoryId]]) -> None:
        """Give stories other ids; each target id must be unused."""
        self.flush()
        # Assignments point at stories: check the keys at commit, not per statement.
        self._db.execute("PRAGMA defer_foreign_keys = ON")
        for current, target in renames:
            self._db.execute("UPDATE stories SET id = ? WHERE id = ?", (target, current))
            self._db.execute(
                "UPDATE assignments SET story_id = ? WHERE story_id = ?", (target, current))
            self._db.execute(
                "UPDATE story_events SET story_id = ? WHERE story_id = ?", (target, current))

    def add_term_frequencies(self, delta: dict[str, int]) -> None:
        """Apply document-frequency changes; terms that reach zero are dropped."""
        changes = [(t, n) for t, n in delta.items() if n]
        self._db.executemany(
            "INSERT INTO term_df (term, df) VALUES (?, ?) "
            "ON CONFLICT (term) DO UPDATE SET df = df + excluded.df", changes,
        )
        if any(n < 0 for _, n in changes):
            self._db.execute("DELETE FROM term_df WHERE df <= 0")

    def clear_term_frequencies(self) -> None:
        self._db.execute("DELETE FROM term_df")

    def clear_clustering(self) -> None:
        """Forget every story and assignment (before a full re-cluster)."""
        self.flush()
        self._db.execute("DELETE FROM assignments")
        self._db.execute("DELETE FROM story_events")
        self._db.execute("DELETE FROM stories")


class SQLiteStore:
    """Opens the database file, applies migrations, hands out readers and the writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._writer = self._connect()
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
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
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._writer.execute("BEGIN IMMEDIATE")
                try:
                    for statement in script.split(";"):
                        if statement.strip():
                            self._writer.execute(statement)
                    self._writer.execute(f"PRAGMA user_version = {number}")
                    self._writer.execute("COMMIT")
                except BaseException:
                    self._writer.execute("ROLLBACK")
                    raise

    @property
    def schema_version(self) -> int:
        return int(self._writer.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def write(self) -> Iterator[Writer]:
        """The one write transaction: committed (durably) on success, rolled back
        on any exception."""
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                writer = Writer(self._writer)
                yield writer
                writer.flush()
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Reader]:
        """A consistent read snapshot on this thread's own connection."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
        if connection.in_transaction:  # nested read on the same thread
            yield Reader(connection)
            return
        connection.execute("BEGIN")
        try:
            yield Reader(connection)
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
