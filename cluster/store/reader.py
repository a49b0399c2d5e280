"""Read queries over the store; every method is read-only."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from cluster.store.dialect import SQLITE, Connection, Dialect
from cluster.store.records import (
    ARTICLE_COLUMNS,
    STORY_COLUMNS,
    STORYLINE_COLUMNS,
    StoredArticle,
    StoryEvent,
    StorylineMember,
    StorylineRow,
    StoryRow,
    article_record,
    story_record,
    storyline_record,
)
from cluster.types import ArticleKey, Matrix, StoryId, StorylineId

IN_CHUNK = 500
"""Values per ``IN (...)`` query: under SQLite's default limit of host parameters."""

UNDATED_LAST = "CASE WHEN a.published_at IS NULL THEN 1 ELSE 0 END"


class SQLReader:
    """Queries over one connection, in the SQL both databases speak
    (``dialect`` spells the rest); every method is read-only."""

    def __init__(self, connection: Connection, dialect: Dialect = SQLITE) -> None:
        self._db = connection
        self._dialect = dialect

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
        return None if row is None else article_record(row)

    def articles_by_keys(self, keys: Iterable[int]) -> dict[ArticleKey, StoredArticle]:
        return {a.key: a for a in self._articles_where("a.key", sorted({int(k) for k in keys}))}

    def _articles_where(self, column: str, values: Sequence[object]) -> list[StoredArticle]:
        """Articles whose ``column`` is one of ``values``, in chunks that stay
        under SQLite's parameter limit."""
        return [article_record(row) for row in self._in_chunks(
            f"SELECT {ARTICLE_COLUMNS} FROM articles a LEFT JOIN assignments s "
            f"ON s.article_key = a.key WHERE {column} IN ({{marks}})", values)]

    def _in_chunks(self, sql: str, values: Sequence[object]) -> Iterator[Any]:
        """The rows of ``sql`` (whose ``{marks}`` is an IN list) for all of
        ``values``, queried in chunks that stay under SQLite's parameter limit."""
        for start in range(0, len(values), IN_CHUNK):
            chunk = list(values[start:start + IN_CHUNK])
            yield from self._db.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)

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
        by_key: dict[int, bytes] = dict(self._in_chunks(
            "SELECT key, vector FROM article_vectors WHERE key IN ({marks})",
            sorted(set(keys))))
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
                where = (f"WHERE ({UNDATED_LAST}, COALESCE(a.published_at, 0), a.id) "
                         "> (?, ?, ?)")
                params = list(last)
            rows = self._db.execute(
                f"SELECT {ARTICLE_COLUMNS} FROM articles a LEFT JOIN assignments s "
                f"ON s.article_key = a.key {where} ORDER BY {UNDATED_LAST}, "
                "COALESCE(a.published_at, 0), a.id LIMIT ?", [*params, batch],
            ).fetchall()
            if not rows:
                return
            chunk = [article_record(r) for r in rows]
            tail = chunk[-1]
            last = (int(tail.published_at is None), tail.published_at or 0.0, tail.id)
            yield chunk

    def iter_vectors(self, batch: int = 5000) -> Iterator[tuple[np.ndarray, Matrix]]:
        """(keys, vectors) of every article, by key."""
        last = -1
        while True:
            rows = self._db.execute(
                "SELECT key, vector FROM article_vectors WHERE key > ? ORDER BY key LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            keys = np.array([r[0] for r in rows], dtype=np.int64)
            vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            last = int(keys[-1])
            yield keys, vectors

    def sample_vectors(self, step: int) -> Matrix:
        """Every ``step``-th stored vector by key: a sample spread over the history."""
        rows = self._db.execute(
            "SELECT vector FROM article_vectors WHERE key % ? = 0 ORDER BY key",
            (step,)).fetchall()
        return np.stack([np.frombuffer(r[0], dtype=np.float32) for r in rows]) if rows \
            else np.zeros((0, 0), dtype=np.float32)

    def term_frequencies(self) -> dict[str, int]:
        return {str(t): int(n) for t, n in self._db.execute("SELECT term, df FROM term_df")}

    # -- index log ---------------------------------------------------------
    def index_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM index_log").fetchone()
        return int(row[0] or 0)

    def story_event_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM story_events").fetchone()
        return int(row[0] or 0)

    def stories_changed_since(self, seq: int) -> tuple[int, list[StoryId]]:
        """(the newest story event's number, the stories with events after ``seq``
        or named by one)."""
        ids: set[int] = set()
        newest = seq
        for event_seq, story_id, other_id in self._db.execute(
                "SELECT seq, story_id, other_id FROM story_events WHERE seq > ?", (seq,)):
            newest = max(newest, int(event_seq))
            ids.add(int(story_id))
            if other_id is not None:
                ids.add(int(other_id))
        return newest, [StoryId(i) for i in sorted(ids)]

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
        return None if row is None else story_record(row)

    def story_text_chars(self, story_id: int) -> tuple[int, int]:
        """(members, total characters of their texts) of a story."""
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(a.text)), 0) FROM assignments s "
            "JOIN articles a ON a.key = s.article_key WHERE s.story_id = ?", (story_id,),
        ).fetchone()
        return int(row[0]), int(row[1])

    def split_pairs(self) -> list[tuple[StoryId, StoryId]]:
        """Stories that maintenance split apart, as (older, newer) id pairs."""
        return [(StoryId(a), StoryId(b)) for a, b in self._db.execute(
            "SELECT story_id, other_id FROM story_events WHERE kind = 'split' "
            "AND other_id > story_id")]

    def story_partitions(self, ids: Iterable[int] | None = None) -> dict[StoryId, int]:
        """The partition that owns each story a partitioned writer made (of
        these stories, or all)."""
        if ids is None:
            return {StoryId(s): int(p) for s, p in self._db.execute(
                "SELECT story_id, partition FROM story_partitions")}
        return {StoryId(s): int(p) for s, p in self._in_chunks(
            "SELECT story_id, partition FROM story_partitions WHERE story_id IN ({marks})",
            sorted({int(i) for i in ids}))}

    def live_story_states(
        self,
    ) -> Iterator[tuple[StoryId, int, np.ndarray, float | None, float | None]]:
        """(id, count, centroid sum, first, last) of every active or dormant story;
        the sum as stored (float32, read-only): start-up only normalises most."""
        for story_id, count, blob, first, last in self._db.execute(
            "SELECT id, article_count, centroid_sum, first_seen, last_updated FROM stories "
            "WHERE status IN ('active', 'dormant') AND article_count > 0 ORDER BY id"):
            yield StoryId(story_id), count, np.frombuffer(blob, dtype=np.float32), first, last

    def story_centroids(
        self, ids: Iterable[int],
    ) -> dict[StoryId, tuple[int, np.ndarray, float | None, float | None]]:
        """(count, centroid sum, first, last) of each of these stories that is
        live and not empty; the sum as stored (float32, read-only)."""
        return {StoryId(story_id): (count, np.frombuffer(blob, dtype=np.float32), first, last)
                for story_id, count, blob, first, last in self._in_chunks(
                    "SELECT id, article_count, centroid_sum, first_seen, last_updated "
                    "FROM stories WHERE id IN ({marks}) AND status != 'merged' "
                    "AND article_count > 0", sorted({int(i) for i in ids}))}

    def live_stories_before(self, cutoff: float) -> int:
        """About how many active or dormant stories were last active before
        ``cutoff``: counted on the activity index alone, without reading a row."""
        return int(self._db.execute(
            "SELECT COUNT(*) FROM stories WHERE status IN ('active', 'dormant') "
            "AND activity < ?", (cutoff,)).fetchone()[0])

    def stories_quiet_since(self, statuses: Sequence[str], cutoff: float) -> list[StoryId]:
        """Dated stories in ``statuses`` whose newest article is older than ``cutoff``."""
        marks = ",".join("?" * len(statuses))
        return [StoryId(r[0]) for r in self._db.execute(
            f"SELECT id FROM stories WHERE status IN ({marks}) AND activity < ? "
            f"AND last_updated IS NOT NULL ORDER BY id", [*statuses, cutoff])]

    def stories_by_ids(self, ids: Iterable[int]) -> dict[StoryId, StoryRow]:
        wanted = sorted(set(ids))
        marks = ",".join("?" * len(wanted))
        rows = self._db.execute(
            f"SELECT {STORY_COLUMNS} FROM stories WHERE id IN ({marks})", wanted
        ).fetchall() if wanted else []
        return {StoryId(r[0]): story_record(r) for r in rows}

    def stories_with_status(self, statuses: Sequence[str]) -> list[StoryRow]:
        marks = ",".join("?" * len(statuses))
        return [story_record(r) for r in self._db.execute(
            f"SELECT {STORY_COLUMNS} FROM stories WHERE status IN ({marks}) ORDER BY id",
            list(statuses),
        )]

    def list_stories(
        self, statuses: Sequence[str], limit: int, after: tuple[float, int] | None, *,
        order: str = "last_updated", since: float | None = None, min_sources: int = 1,
    ) -> list[StoryRow]:
        """Stories by ``order`` ("last_updated": most recent activity first;
        "hotness": hottest first); ``after`` is the (sort value, id) of the last
        item of the previous page."""
        column = "hotness" if order == "hotness" else "activity"
        params: list[object] = []
        if set(statuses) >= {"active", "dormant", "archived"}:
            where = "status != 'merged'"  # walks the order's own index, no sort
        else:
            where = f"status IN ({','.join('?' * len(statuses))})"
            params += list(statuses)
        if since is not None:
            where += " AND last_updated >= ?"
            params.append(since)
        if min_sources > 1:
            where += " AND source_count >= ?"
            params.append(min_sources)
        if after is not None:
            where += f" AND ({column} < ? OR ({column} = ? AND id < ?))"
            params += [after[0], after[0], after[1]]
        rows = self._db.execute(
            f"SELECT {STORY_COLUMNS} FROM stories WHERE {where} "
            f"ORDER BY {column} DESC, id DESC LIMIT ?", [*params, limit],
        ).fetchall()
        return [story_record(r) for r in rows]

    def member_times(self, story_id: int) -> list[float]:
        """Each member's publication time (its ingestion time when undated)."""
        return [float(t) for (t,) in self._db.execute(
            "SELECT COALESCE(a.published_at, a.ingested_at) FROM assignments s "
            "JOIN articles a ON a.key = s.article_key WHERE s.story_id = ?", (story_id,))]

    def story_outlets(self, story_id: int) -> list[tuple[str, int]]:
        """Outlets by number of original articles (copies not counted)."""
        return [(str(s), int(n)) for s, n in self._db.execute(
            "SELECT a.source, SUM(CASE WHEN a.duplicate_of IS NULL THEN 1 ELSE 0 END) AS n "
            "FROM assignments s "
            "JOIN articles a ON a.key = s.article_key WHERE s.story_id = ? GROUP BY a.source "
            "ORDER BY n DESC, a.source", (story_id,),
        )]

    def story_timeline(self, story_id: int) -> list[tuple[str, str, int]]:
        """(UTC day, source, articles) of a dated story, by day then source."""
        return [(str(d), str(s), int(n)) for d, s, n in self._db.execute(
            f"SELECT {self._dialect.utc_day('a.published_at')} AS day, a.source, COUNT(*) "
            "FROM assignments s JOIN articles a ON a.key = s.article_key "
            "WHERE s.story_id = ? AND a.published_at IS NOT NULL "
            "GROUP BY day, a.source ORDER BY day, a.source", (story_id,),
        )]

    def newest_member_keys(self, story_id: int, limit: int) -> list[ArticleKey]:
        return [ArticleKey(k) for (k,) in self._db.execute(
            "SELECT article_key FROM assignments WHERE story_id = ? "
            "ORDER BY article_key DESC LIMIT ?", (story_id, limit))]

    def first_copy(self, embed_hash: str, exclude: int) -> StoredArticle | None:
        """The earliest stored article with exactly this embedded text."""
        row = self._db.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles a LEFT JOIN assignments s "
            "ON s.article_key = a.key WHERE a.embed_hash = ? AND a.key != ? "
            "ORDER BY a.key LIMIT 1", (embed_hash, exclude),
        ).fetchone()
        return None if row is None else article_record(row)

    def duplicate_counts(self, ids: Iterable[str]) -> dict[str, int]:
        wanted = sorted(set(ids))
        return {str(i): int(n) for i, n in self._in_chunks(
            "SELECT duplicate_of, COUNT(*) FROM articles WHERE duplicate_of IN ({marks}) "
            "GROUP BY duplicate_of", wanted)}

    def articles_by_ids(self, ids: Iterable[str]) -> dict[str, StoredArticle]:
        return {a.id: a for a in self._articles_where("a.id", sorted(set(ids)))}

    def signatures_of(self, keys: Sequence[int]) -> list[tuple[int, float | None, bytes]]:
        """(key, time, MinHash) of those of ``keys`` that have a sketch."""
        return [(int(k), t, bytes(b)) for k, t, b in self._in_chunks(
            "SELECT v.key, a.published_at, v.minhash FROM article_vectors v "
            "JOIN articles a ON a.key = v.key WHERE v.key IN ({marks}) "
            "AND v.minhash IS NOT NULL", [int(k) for k in keys])]

    def recent_signatures(self, horizon: float | None) -> list[tuple[int, float | None, bytes]]:
        """(key, time, MinHash) of articles published at or after ``horizon``
        (all when None) and of undated ones."""
        where = "" if horizon is None else (
            " AND (a.published_at IS NULL OR a.published_at >= ?)")
        params = [] if horizon is None else [horizon]
        return [(int(k), t, bytes(b)) for k, t, b in self._db.execute(
            "SELECT v.key, a.published_at, v.minhash FROM article_vectors v "
            f"JOIN articles a ON a.key = v.key WHERE v.minhash IS NOT NULL{where}",
            params)]

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
        return [article_record(r) for r in self._db.execute(sql, params)]

    def member_keys(self, story_id: int) -> list[ArticleKey]:
        """A story's article keys, oldest first."""
        return [ArticleKey(k) for (k,) in self._db.execute(
            "SELECT article_key FROM assignments WHERE story_id = ? ORDER BY article_key",
            (story_id,))]

    def first_members(self, story_ids: Iterable[int]) -> dict[StoryId, ArticleKey]:
        """Each story's first stored article (its stand-in before it is presented)."""
        wanted = sorted({int(s) for s in story_ids})
        return {StoryId(s): ArticleKey(k) for s, k in self._in_chunks(
            "SELECT story_id, MIN(article_key) FROM assignments "
            "WHERE story_id IN ({marks}) GROUP BY story_id", wanted)}

    def story_sources(self, story_id: int) -> list[tuple[str, int]]:
        return [(str(s), int(n)) for s, n in self._db.execute(
            "SELECT a.source, COUNT(*) AS n FROM assignments s JOIN articles a "
            "ON a.key = s.article_key WHERE s.story_id = ? GROUP BY a.source "
            "ORDER BY n DESC, a.source", (story_id,),
        )]

    def story_events(
        self, story_id: int, after: int = 0, limit: int | None = None
    ) -> list[StoryEvent]:
        """A story's events after sequence number ``after``, oldest first."""
        sql = ("SELECT seq, story_id, kind, at, article_id, other_id FROM story_events "
               "WHERE story_id = ? AND seq > ? ORDER BY seq")
        params: list[object] = [story_id, after]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [StoryEvent(int(r[0]), StoryId(r[1]), r[2], r[3], r[4], r[5])
                for r in self._db.execute(sql, params)]

    def merged_stories(self) -> list[tuple[StoryId, StoryId]]:
        """(absorbed id, id it was merged into) of every absorbed story."""
        return [(StoryId(a), StoryId(b)) for a, b in self._db.execute(
            "SELECT id, merged_into FROM stories WHERE status = 'merged' "
            "AND merged_into IS NOT NULL ORDER BY id")]

    def dirty_story_count(self) -> int:
        """Stories changed since they were last presented, and those a worker is
        presenting now."""
        return int(self._db.execute(
            "SELECT (SELECT COUNT(*) FROM stories WHERE dirty = 1 AND status != 'merged') "
            "+ (SELECT COUNT(*) FROM presenting)"
        ).fetchone()[0])

    def story_count(self, statuses: Sequence[str]) -> int:
        marks = ",".join("?" * len(statuses))
        return int(self._db.execute(
            f"SELECT COUNT(*) FROM stories WHERE status IN ({marks})", list(statuses)
        ).fetchone()[0])

    def assignments(self) -> dict[str, StoryId]:
        return {str(i): StoryId(s) for i, s in self._db.execute(
            "SELECT a.id, s.story_id FROM assignments s JOIN articles a ON a.key = s.article_key"
        )}

    # -- storylines --------------------------------------------------------
    def storyline(self, storyline_id: int) -> StorylineRow | None:
        row = self._db.execute(
            f"SELECT {STORYLINE_COLUMNS} FROM storylines WHERE id = ?", (storyline_id,)
        ).fetchone()
        return None if row is None else storyline_record(row)

    def storyline_stories(self, storyline_id: int) -> list[StoryRow]:
        """The storyline's live stories, oldest first."""
        return [story_record(r) for r in self._db.execute(
            f"SELECT {STORY_COLUMNS} FROM stories WHERE storyline_id = ? "
            "AND status != 'merged' ORDER BY first_seen, id", (storyline_id,))]

    def storyline_members(
        self, storyline_ids: Sequence[int],
    ) -> dict[StorylineId, list[StorylineMember]]:
        """Each storyline's live stories in brief, oldest first, in one query."""
        members: dict[StorylineId, list[StorylineMember]] = {
            StorylineId(n): [] for n in storyline_ids}
        for line, story, label, count, last, sources in self._in_chunks(
                "SELECT storyline_id, id, label, article_count, last_updated, top_sources "
                "FROM stories WHERE storyline_id IN ({marks}) AND status != 'merged' "
                "ORDER BY storyline_id, first_seen, id", list(storyline_ids)):
            members[StorylineId(line)].append(StorylineMember(
                StoryId(story), label, count, last,
                [(str(o), int(n)) for o, n in json.loads(sources)]))
        return members

    def list_storylines(
        self, statuses: Sequence[str], limit: int, after: tuple[float, int] | None, *,
        order: str = "last_updated", since: float | None = None, min_stories: int = 2,
    ) -> list[StorylineRow]:
        """Storylines of at least ``min_stories`` live stories by ``order``
        ("last_updated": latest activity first; "hotness": hottest member
        first); ``after`` is the (sort value, id) of the previous page's last."""
        column = "hotness" if order == "hotness" else "activity"
        marks = ",".join("?" * len(statuses))
        where = f"status IN ({marks}) AND story_count >= ?"
        params: list[object] = [*statuses, min_stories]
        if since is not None:
            where += " AND last_updated >= ?"
            params.append(since)
        if after is not None:
            where += f" AND ({column} < ? OR ({column} = ? AND id < ?))"
            params += [after[0], after[0], after[1]]
        return [storyline_record(r) for r in self._db.execute(
            f"SELECT {STORYLINE_COLUMNS} FROM storylines WHERE {where} "
            f"ORDER BY {column} DESC, id DESC LIMIT ?", [*params, limit])]

    def story_storylines_of(self, story_ids: Sequence[int]) -> dict[StoryId, StorylineId | None]:
        """The storyline of each of these stories (None: it has none or is unknown),
        in the order given."""
        found = {StoryId(s): None if n is None else StorylineId(n) for s, n in self._in_chunks(
            "SELECT id, storyline_id FROM stories WHERE id IN ({marks})", list(story_ids))}
        return {StoryId(s): found.get(StoryId(s)) for s in story_ids}

    def story_storylines(self) -> dict[StoryId, StorylineId]:
        """The storyline of every live story that has one."""
        return {StoryId(s): StorylineId(n) for s, n in self._db.execute(
            "SELECT id, storyline_id FROM stories "
            "WHERE storyline_id IS NOT NULL AND status != 'merged'")}
