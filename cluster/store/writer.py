"""Writes, inside the store's single write transaction."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from cluster.articles.incoming import Article
from cluster.store.dialect import SQLITE, Connection, Dialect
from cluster.store.placement_cache import Placements
from cluster.store.reader import SQLReader
from cluster.store.records import Presentation, StoryEvent, sum_blob, vector_blob
from cluster.types import ArticleKey, StoryId, StorylineId, Vector


class SQLWriter(SQLReader):
    """Reads and writes inside the single write transaction.

    Index-log rows and story events are append-only and not read back while
    a batch is written, so they are buffered and inserted with one
    ``executemany`` each before anything that reads or rewrites them and
    before the commit."""

    def __init__(
        self, connection: Connection, placements: Placements | None = None,
        dialect: Dialect = SQLITE, commit_turn: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(connection, dialect)
        self._commit_turn = commit_turn
        self._placements = placements
        if placements is not None and not placements.loaded:
            placements.load(connection)
        self._index_rows: list[tuple[int, str]] = []
        self._event_rows: list[tuple[int, str, float | None, str | None, int | None]] = []

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        """A statement on tables a caller keeps for itself in the same
        transaction (the scale-out coordinator's barriers)."""
        self._db.execute(sql, tuple(params))

    def take_commit_turn(self) -> None:
        """From here to the commit this write changes what the writers sharing
        the store share, one writer at a time (a single writer has no one to
        wait for)."""
        if self._commit_turn is not None:
            self._commit_turn()

    def flush(self) -> None:
        if self._index_rows or self._event_rows:
            self.take_commit_turn()  # the log's numbers must follow the commits' order
        if self._index_rows:
            self._db.executemany(
                "INSERT INTO index_log (article_key, op) VALUES (?, ?)", self._index_rows)
            self._index_rows.clear()
        if self._event_rows:
            self._db.executemany(
                "INSERT INTO story_events (story_id, kind, at, article_id, other_id) "
                "VALUES (?, ?, ?, ?, ?)", self._event_rows)
            self._event_rows.clear()

    def placement(self, keys: Iterable[int]) -> dict[int, tuple[StoryId, float | None]]:
        if self._placements is None:
            return super().placement(keys)
        return self._placements.lookup(keys)

    def index_seq(self) -> int:
        self.flush()
        return super().index_seq()

    def index_ops_since(self, seq: int) -> list[tuple[int, ArticleKey, str]]:
        self.flush()
        return super().index_ops_since(seq)

    def stories_changed_since(self, seq: int) -> tuple[int, list[StoryId]]:
        self.flush()
        return super().stories_changed_since(seq)

    def story_events(
        self, story_id: int, after: int = 0, limit: int | None = None
    ) -> list[StoryEvent]:
        self.flush()
        return super().story_events(story_id, after, limit)

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value),
        )

    def insert_article(
        self, article: Article, vector: Vector, embed_hash: str, duplicate_of: str | None = None,
        minhash: bytes | None = None,
    ) -> ArticleKey:
        key = ArticleKey(int(self._db.execute(
            "INSERT INTO articles (id, title, text, source, url, published_at, lang, "
            "content_hash, embed_hash, duplicate_of, ingested_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING key",
            (article.id, article.title, article.text, article.source, article.url,
             article.timestamp, article.lang, article.content_hash, embed_hash,
             duplicate_of, time.time()),
        ).fetchone()[0]))
        self._db.execute("INSERT INTO article_vectors (key, vector, minhash) VALUES (?, ?, ?)",
                         (key, vector_blob(vector), minhash))
        self.log_index(key, "add")
        if self._placements is not None:
            self._placements.stored(key, article.timestamp)
        return key

    def update_article(
        self, key: ArticleKey, article: Article, vector: Vector, embed_hash: str,
        duplicate_of: str | None = None, minhash: bytes | None = None,
    ) -> None:
        self._db.execute(
            "UPDATE articles SET title = ?, text = ?, source = ?, url = ?, published_at = ?, "
            "lang = ?, content_hash = ?, embed_hash = ?, ingested_at = ?, "
            "duplicate_of = ? WHERE key = ?",
            (article.title, article.text, article.source, article.url, article.timestamp,
             article.lang, article.content_hash, embed_hash, time.time(), duplicate_of, key),
        )
        self._db.execute("UPDATE article_vectors SET vector = ?, minhash = ? WHERE key = ?",
                         (vector_blob(vector), minhash, key))
        self.log_index(key, "add")
        if self._placements is not None:
            self._placements.stored(key, article.timestamp)

    def promote_duplicates(self, original_id: str) -> None:
        """Before an original goes: its earliest copy becomes the original of the rest."""
        rows = self._db.execute(
            "SELECT id FROM articles WHERE duplicate_of = ? ORDER BY key", (original_id,)
        ).fetchall()
        if not rows:
            return
        heir = str(rows[0][0])
        self._db.execute("UPDATE articles SET duplicate_of = NULL WHERE id = ?", (heir,))
        self._db.execute(
            "UPDATE articles SET duplicate_of = ? WHERE duplicate_of = ?", (heir, original_id))

    def update_vector(self, key: ArticleKey, vector: Vector, embed_hash: str) -> None:
        self._db.execute("UPDATE articles SET embed_hash = ? WHERE key = ?", (embed_hash, key))
        self._db.execute("UPDATE article_vectors SET vector = ? WHERE key = ?",
                         (vector_blob(vector), key))

    def delete_article(self, key: ArticleKey) -> None:
        self._db.execute("DELETE FROM assignments WHERE article_key = ?", (key,))
        self._db.execute("DELETE FROM articles WHERE key = ?", (key,))
        self.log_index(key, "remove")
        if self._placements is not None:
            self._placements.unassign(key)

    def log_index(self, key: ArticleKey, op: str) -> None:
        self._index_rows.append((key, op))

    def assign(self, key: ArticleKey, story_id: StoryId, score: float | None, new: bool) -> None:
        self._db.execute(
            "INSERT INTO assignments (article_key, story_id, score, new_story) "
            "VALUES (?, ?, ?, ?) "
            "ON CONFLICT (article_key) DO UPDATE SET story_id = excluded.story_id, "
            "score = excluded.score, new_story = excluded.new_story",
            (key, story_id, score, int(new)),
        )
        if self._placements is not None:
            self._placements.assign(key, story_id)

    def unassign(self, key: ArticleKey) -> None:
        self._db.execute("DELETE FROM assignments WHERE article_key = ?", (key,))
        if self._placements is not None:
            self._placements.unassign(key)

    def move_assignments(self, from_story: StoryId, to_story: StoryId) -> None:
        self._db.execute(
            "UPDATE assignments SET story_id = ? WHERE story_id = ?", (to_story, from_story)
        )
        if self._placements is not None:
            self._placements.move(from_story, to_story)

    def create_story(self, story_id: StoryId | None = None,
                     partition: int | None = None) -> StoryId:
        if story_id is None:
            story_id = StoryId(int(self._db.execute(
                "INSERT INTO stories (activity, article_count, source_count, centroid_sum) "
                "VALUES (0, 0, 0, ?) RETURNING id", (b"",)).fetchone()[0]))
        else:
            self._db.execute(
                "INSERT INTO stories (id, activity, article_count, source_count, centroid_sum) "
                "VALUES (?, 0, 0, 0, ?)", (story_id, b""))
            self._dialect.bump_sequence(self._db, "stories")
        if partition is not None:
            self.set_story_partition(story_id, partition)
        return story_id

    def set_story_partition(self, story_id: StoryId, partition: int) -> None:
        self._db.execute(
            "INSERT INTO story_partitions (story_id, partition) VALUES (?, ?) "
            "ON CONFLICT (story_id) DO UPDATE SET partition = excluded.partition",
            (story_id, partition))

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
             sum_blob(centroid_sum), merged_into,
             story_id),
        )

    def set_story_presentation(
        self, story_id: StoryId, presentation: Presentation, claimed: bool = False,
    ) -> None:
        """What readers see of a story. In the write that computed it, the story
        is no longer dirty. A ``claimed`` presentation was computed elsewhere
        from an earlier snapshot (``claim_for_presentation``): the story stays
        dirty if it changed since, and a relabel asked for meanwhile stands."""
        p = presentation
        self._db.execute(
            "UPDATE stories SET label = ?, representative = ?, source_count = ?, summary = ?, "
            "hotness = ?, top_sources = ?, "
            "presented_count = CASE WHEN presented_count = ? THEN ? ELSE presented_count END, "
            "dirty = CASE WHEN ? THEN dirty ELSE 0 END WHERE id = ? AND status != 'merged'",
            (p.label, p.representative, p.source_count, json.dumps(p.summary), p.hotness,
             json.dumps(p.top_sources), p.seen_presented_count, p.presented_count,
             claimed, story_id),
        )

    def claim_for_presentation(self, limit: int) -> list[StoryId]:
        """Up to ``limit`` dirty stories, marked clean and recorded as being
        presented: a change from now on marks them dirty again, and a crash
        before ``release_claims`` leaves them in ``presenting`` for the next
        start (``recover_claims``)."""
        wanted = self.dirty_stories(limit)
        self._db.executemany("INSERT INTO presenting (story_id) VALUES (?) "
                             "ON CONFLICT (story_id) DO NOTHING",
                             [(s,) for s in wanted])
        self._db.executemany("UPDATE stories SET dirty = 0 WHERE id = ?", [(s,) for s in wanted])
        return wanted

    def release_claims(self, story_ids: Sequence[StoryId], presented: bool) -> None:
        """End a claim; stories not ``presented`` are dirty again."""
        if not presented:
            self._db.executemany("UPDATE stories SET dirty = 1 WHERE id = ?",
                                 [(s,) for s in story_ids])
        self._db.executemany("DELETE FROM presenting WHERE story_id = ?",
                             [(s,) for s in story_ids])

    def recover_claims(self) -> int:
        """Stories claimed by a presenter that never finished are dirty again."""
        cursor = self._db.execute(
            "UPDATE stories SET dirty = 1 WHERE id IN (SELECT story_id FROM presenting)")
        self._db.execute("DELETE FROM presenting")
        return int(cursor.rowcount)

    def set_status(self, story_id: StoryId, status: str) -> None:
        self._db.execute("UPDATE stories SET status = ? WHERE id = ?", (status, story_id))

    def delete_story(self, story_id: StoryId) -> None:
        self.flush()
        self._db.execute("DELETE FROM stories WHERE id = ?", (story_id,))
        self._db.execute("DELETE FROM story_events WHERE story_id = ?", (story_id,))

    def dirty_stories(self, limit: int = -1) -> list[StoryId]:
        """Stories changed since they were last presented, oldest id first."""
        sql = "SELECT id FROM stories WHERE dirty = 1 AND status != 'merged' ORDER BY id"
        if limit < 0:
            return [StoryId(r[0]) for r in self._db.execute(sql)]
        return [StoryId(r[0]) for r in self._db.execute(sql + " LIMIT ?", (limit,))]

    def forget_presented_count(self, story_id: StoryId) -> None:
        """The next presentation relabels the story whatever its size (after a merge).
        -1, not 0: a presentation computed before this request (never-presented
        story, 0) must not overwrite it."""
        self._db.execute("UPDATE stories SET presented_count = -1 WHERE id = ?", (story_id,))

    def add_event(
        self, story_id: StoryId, kind: str, at: float | None,
        article_id: str | None = None, other_id: StoryId | None = None,
    ) -> None:
        self._event_rows.append((story_id, kind, at, article_id, other_id))

    def rename_stories(self, renames: Sequence[tuple[StoryId, StoryId]]) -> None:
        """Give stories other ids; each target id must be unused."""
        self.flush()
        # Assignments point at stories: check the keys at commit, not per statement.
        self._db.execute(self._dialect.defer_foreign_keys)
        for current, target in renames:
            self._db.execute("UPDATE stories SET id = ? WHERE id = ?", (target, current))
            self._db.execute(
                "UPDATE assignments SET story_id = ? WHERE story_id = ?", (target, current))
            if self._placements is not None:
                self._placements.move(current, target)
            self._db.execute(
                "UPDATE story_events SET story_id = ? WHERE story_id = ?", (target, current))
            self._db.execute(
                "UPDATE story_events SET other_id = ? WHERE other_id = ?", (target, current))
            self._db.execute(
                "UPDATE stories SET merged_into = ? WHERE merged_into = ?", (target, current))
        self._dialect.bump_sequence(self._db, "stories")

    def add_term_frequencies(self, delta: dict[str, int]) -> None:
        """Apply document-frequency changes; terms that reach zero are dropped."""
        changes = [(t, n) for t, n in delta.items() if n]
        self._db.executemany(
            "INSERT INTO term_df (term, df) VALUES (?, ?) "
            "ON CONFLICT (term) DO UPDATE SET df = term_df.df + excluded.df", changes,
        )
        if any(n < 0 for _, n in changes):
            self._db.execute("DELETE FROM term_df WHERE df <= 0")

    def clear_term_frequencies(self) -> None:
        self._db.execute("DELETE FROM term_df")

    def clear_clustering(self) -> None:
        """Forget every story, assignment and storyline (before a full re-cluster)."""
        self.flush()
        self._db.execute("DELETE FROM assignments")
        if self._placements is not None:
            self._placements.unassign_all()
        self._db.execute("DELETE FROM story_events")
        self._db.execute("DELETE FROM stories")
        self._db.execute("DELETE FROM storylines")

    # -- storylines --------------------------------------------------------
    def create_storyline(self, at: float | None,
                         storyline_id: StorylineId | None = None) -> StorylineId:
        """A new, empty storyline (``storyline_id``: an id that must be unused)."""
        if storyline_id is None:
            return StorylineId(int(self._db.execute(
                "INSERT INTO storylines (created_at) VALUES (?) RETURNING id",
                (at,)).fetchone()[0]))
        self._db.execute(
            "INSERT INTO storylines (id, created_at) VALUES (?, ?)", (storyline_id, at))
        self._dialect.bump_sequence(self._db, "storylines")
        return storyline_id

    def set_storyline(self, story_id: StoryId, storyline_id: StorylineId | None) -> None:
        self._db.execute("UPDATE stories SET storyline_id = ? WHERE id = ?",
                         (storyline_id, story_id))

    def retire_storyline(self, storyline_id: StorylineId, merged_into: StorylineId) -> None:
        """A storyline whose stories all went to ``merged_into``: its id answers
        with that one from now on."""
        self._db.execute(
            "UPDATE storylines SET status = 'merged', merged_into = ?, story_count = 0, "
            "article_count = 0 WHERE id = ?", (merged_into, storyline_id))
        self._db.execute("UPDATE storylines SET merged_into = ? WHERE merged_into = ?",
                         (merged_into, storyline_id))

    def rename_storylines(self, renames: Sequence[tuple[StorylineId, StorylineId]]) -> None:
        """Give storylines other ids; each target id must be unused."""
        for current, target in renames:
            self._db.execute("UPDATE storylines SET id = ? WHERE id = ?", (target, current))
            self._db.execute("UPDATE stories SET storyline_id = ? WHERE storyline_id = ?",
                             (target, current))
            self._db.execute("UPDATE storylines SET merged_into = ? WHERE merged_into = ?",
                             (target, current))
        self._dialect.bump_sequence(self._db, "storylines")
