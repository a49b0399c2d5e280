"""The durable ingest queue of the scale-out deployment, a table of the
PostgreSQL store (``ingest_queue``, schema 2).

An article is accepted when its row is committed: from then on it survives
any crash. Embedding workers ``claim`` the oldest rows nobody holds (``FOR
UPDATE SKIP LOCKED``: workers never wait on each other, and never take the
same row) for a lease, and ``complete`` them with vectors. A worker that dies
leaves its claim to expire; another takes the rows again. The writer takes
the oldest accepted batch once all of it is embedded (``next_batch``),
clusters it as one ingest batch, and only then removes it (``acknowledge``):
a writer that dies between the two re-reads it, and re-ingesting an article
with the same id and content changes nothing, so every article is clustered
exactly once.

The writer keeps the batches as they were accepted, never joining or cutting
them by how far the workers have got: the stories then depend on the input
alone, not on timing, and equal what one machine builds from the same
batches (a batch's articles are clustered together, and its boundaries
matter slightly).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from cluster.articles.incoming import Article
from cluster.errors import ClusterError
from cluster.store.records import vector_blob
from cluster.types import ArticleId, Vector

if TYPE_CHECKING:
    import psycopg

class OwnConnection:
    """An object's own autocommit connection, made again when it was lost, and
    the lock its statements take (a psycopg connection serves one thread at a
    time)."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.lock = threading.Lock()
        self._connection: psycopg.Connection[Any] | None = None

    def db(self) -> psycopg.Connection[Any]:
        """The connection while it is usable, else a new one (a lost one is
        closed first). Called with ``lock`` held."""
        import psycopg

        current = self._connection
        if current is not None and not current.closed and not current.broken:
            return current
        if current is not None:
            with suppress(Exception):
                current.close()
        self._connection = psycopg.connect(self.url, autocommit=True,
                                           application_name=self.name[:63],
                                           connect_timeout=10)
        return self._connection

    def close(self) -> None:
        with self.lock:
            if self._connection is not None:
                with suppress(Exception):
                    self._connection.close()
                self._connection = None


class QueueUnavailable(ClusterError):
    """The store that holds the queue cannot be reached: nothing was queued."""


ENQUEUE_LOCK = (0x6E657773, 0x71756575)
DEFAULT_LEASE_S = 60.0
"""How long a claim holds rows before another worker may take them."""


def article_json(article: Article) -> dict[str, Any]:
    return {"id": article.id, "title": article.title, "text": article.text,
            "source": article.source, "url": article.url, "lang": article.lang,
            "published_at": None if article.published_at is None
            else article.published_at.isoformat()}


def article_from_json(data: dict[str, Any]) -> Article:
    published = data.get("published_at")
    return Article(ArticleId(data["id"]), data["title"], data["text"], data["source"],
                   data.get("url"), None if published is None
                   else datetime.fromisoformat(published), data.get("lang"))


@dataclass(frozen=True)
class Embedded:
    """A queued article with its vector, as the writer takes it; or a queued
    deletion (``deleted``: the article's id; ``article`` and ``vector`` unused)."""

    seq: int
    article: Article
    vector: Vector
    embed_hash: str
    deleted: str | None = None


NO_ARTICLE = Article(ArticleId(""), "", "", "", None, None, None)
"""The article of a queued deletion."""


@dataclass(frozen=True)
class Depth:
    waiting: int
    """Accepted, not embedded yet."""
    embedded: int
    """Embedded, not clustered yet."""


class IngestQueue:
    """The queue over its own connection (one per process; thread-safe)."""

    def __init__(self, url: str, name: str = "newsclusters queue") -> None:
        self.url = url
        self.name = name
        self._own = OwnConnection(url, name)
        self._lock = self._own.lock

    def _db(self) -> psycopg.Connection[Any]:
        return self._own.db()

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        """A lost or refused connection is ``QueueUnavailable``: nothing was queued."""
        import psycopg

        try:
            yield
        except psycopg.OperationalError as error:
            raise QueueUnavailable(
                f"the queue's store cannot be reached: {str(error).strip().splitlines()[0]}"
            ) from None

    def _in_commit_order(self) -> None:
        """Accepting writes take turns (to their commit), so that batch numbers
        follow the order batches become visible: a consumer that has taken
        batch n never meets a batch below n later."""
        self._db().execute("SELECT pg_advisory_xact_lock(%s, %s)", ENQUEUE_LOCK)

    def enqueue(self, articles: Sequence[Article]) -> list[int]:
        """Accept a batch, all or nothing; the queue positions, in order."""
        from psycopg.types.json import Jsonb

        if not articles:
            return []
        now = time.time()
        with self._reachable(), self._lock, self._db().transaction():
            self._in_commit_order()
            batch = self._db().execute("SELECT nextval('ingest_batches')").fetchone()
            cursor = self._db().cursor()
            cursor.executemany(
                "INSERT INTO ingest_queue (batch, article, enqueued_at) VALUES (%s, %s, %s) "
                "RETURNING seq",
                [(batch[0] if batch else 0, Jsonb(article_json(a)), now) for a in articles],
                returning=True)
            seqs: list[int] = []
            while True:
                row = cursor.fetchone()
                if row is not None:
                    seqs.append(int(row[0]))
                if not cursor.nextset():
                    break
            return seqs

    def enqueue_deletion(self, article_id: str) -> int:
        """Queue the deletion of an article, after everything queued before it."""
        from psycopg.types.json import Jsonb

        with self._reachable(), self._lock, self._db().transaction():
            self._in_commit_order()
            row = self._db().execute(
                "INSERT INTO ingest_queue (batch, article, enqueued_at, op, vector, "
                "embed_hash) VALUES (nextval('ingest_batches'), %s, %s, 'delete', '', '') "
                "RETURNING seq", (Jsonb({"id": article_id}), time.time())).fetchone()
        assert row is not None
        return int(row[0])

    def claim(self, worker: str, limit: int,
              lease_s: float = DEFAULT_LEASE_S) -> list[tuple[int, Article]]:
        """Up to ``limit`` of the oldest unembedded rows that no live claim holds."""
        now = time.time()
        with self._lock:
            rows = self._db().execute(
                "UPDATE ingest_queue SET claimed_by = %s, claimed_until = %s WHERE seq IN ("
                "SELECT seq FROM ingest_queue WHERE vector IS NULL "
                "AND (claimed_until IS NULL OR claimed_until < %s) "
                "ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING seq, article",
                (worker, now + lease_s, now, limit)).fetchall()
        return sorted((int(seq), article_from_json(data)) for seq, data in rows)

    def complete(self, worker: str,
                 done: Sequence[tuple[int, Vector, str]]) -> int:
        """Store the vectors of claimed rows; rows another worker completed first
        are left as they are (the model gives both the same vector). How many
        this call completed."""
        if not done:
            return 0
        with self._lock:
            cursor = self._db().execute(
                "UPDATE ingest_queue q SET vector = d.vector, embed_hash = d.hash, "
                "embedded_by = %s, claimed_until = NULL "
                "FROM unnest(%s::bigint[], %s::bytea[], %s::text[]) AS d (seq, vector, hash) "
                "WHERE q.seq = d.seq AND q.vector IS NULL",
                (worker, [seq for seq, _, _ in done], [vector_blob(v) for _, v, _ in done],
                 [h for _, _, h in done]))
            return max(cursor.rowcount, 0)

    def next_batch(self) -> list[Embedded]:
        """The oldest accepted batch, in order, once every article of it is
        embedded; empty while any is not (or the queue is empty)."""
        found = self.batch_after(None)
        return [] if found is None else found[1]

    def batch_after(self, after: int | None) -> tuple[int, list[Embedded]] | None:
        """The oldest accepted batch numbered above ``after`` (any, with None)
        and its articles in order, once every one of them is embedded."""
        with self._lock:
            rows = self._db().execute(
                "SELECT seq, article, vector, embed_hash, op, batch FROM ingest_queue "
                "WHERE batch = (SELECT batch FROM ingest_queue WHERE batch > %s "
                "ORDER BY batch, seq LIMIT 1) ORDER BY seq",
                (-1 if after is None else after,)).fetchall()
        if not rows or any(vector is None for _, _, vector, _, _, _ in rows):
            return None
        return int(rows[0][5]), [
            Embedded(int(seq), NO_ARTICLE, np.zeros(0, dtype=np.float32), "",
                     deleted=str(data["id"])) if op == "delete"
            else Embedded(int(seq), article_from_json(data),
                          np.frombuffer(vector, dtype=np.float32), str(embed_hash))
            for seq, data, vector, embed_hash, op, _ in rows]

    def oldest_batch_after(self, after: int | None) -> int | None:
        """The number of the oldest batch queued above ``after`` (any, with None)."""
        with self._lock:
            row = self._db().execute("SELECT MIN(batch) FROM ingest_queue WHERE batch > %s",
                                     (-1 if after is None else after,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def drop_through(self, batch: int) -> None:
        """Every partition clustered the batches up to this one: they leave the
        queue (with any an interrupted coordinator left behind)."""
        with self._lock:
            self._db().execute("DELETE FROM ingest_queue WHERE batch <= %s", (batch,))

    def first_vectors(self, limit: int) -> tuple[int, list[Vector]]:
        """(how many articles are queued, the vectors of the first ``limit`` of
        them that are embedded, in queue order)."""
        with self._lock:
            total = self._db().execute(
                "SELECT COUNT(*) FROM ingest_queue WHERE op = 'upsert'").fetchone()
            rows = self._db().execute(
                "SELECT vector FROM ingest_queue WHERE op = 'upsert' ORDER BY seq LIMIT %s",
                (limit,)).fetchall()
        return (int(total[0]) if total else 0,
                [np.frombuffer(v, dtype=np.float32) for (v,) in rows if v is not None])

    def acknowledge(self, seqs: Sequence[int]) -> None:
        """The writer clustered these rows: they leave the queue."""
        if seqs:
            with self._lock:
                self._db().execute("DELETE FROM ingest_queue WHERE seq = ANY(%s)", (list(seqs),))

    def depth(self) -> Depth:
        with self._lock:
            row = self._db().execute(
                "SELECT COUNT(*) FILTER (WHERE vector IS NULL), "
                "COUNT(*) FILTER (WHERE vector IS NOT NULL) FROM ingest_queue").fetchone()
        return Depth(int(row[0]), int(row[1])) if row else Depth(0, 0)

    def close(self) -> None:
        self._own.close()
