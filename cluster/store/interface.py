"""The store interface: what every store backend offers, and all that the
rest of the library may use of a store.

A store is the source of truth. ``read()`` gives a ``Reader`` over one
consistent snapshot, on the calling thread; ``write()`` gives the one
``Writer`` (one writer at a time, enforced by the backend), whose changes
are committed durably when the block ends and rolled back entirely when it
raises. Everything else (the vector index, the clusterer's memory, the
near-duplicate index) is derived and can be rebuilt from a store.

The backends are ``SQLiteStore`` (``cluster/store/sqlite.py``, one machine)
and ``PostgresStore`` (``cluster/store/postgres.py``, roles on several
machines); the contract suite in ``tests/test_store_contract.py`` runs
against both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

import numpy as np

from cluster.articles.incoming import Article
from cluster.store.records import (
    Presentation,
    StoredArticle,
    StoryEvent,
    StorylineMember,
    StorylineRow,
    StoryRow,
)
from cluster.types import ArticleKey, Matrix, StoryId, StorylineId, Vector


class Reader(Protocol):

    def meta(self, key: str) -> str | None:
        ...

    def article_by_id(self, article_id: str) -> StoredArticle | None:
        ...

    def articles_by_keys(self, keys: Iterable[int]) -> dict[ArticleKey, StoredArticle]:
        ...

    def placement(self, keys: Iterable[int]) -> dict[int, tuple[StoryId, float | None]]:
        """(story, publication time) of each assigned key; the clusterer's hot path."""
        ...

    def story_span(self, story_id: int) -> tuple[float | None, float | None]:
        ...

    def vectors(self, keys: Sequence[int]) -> Matrix:
        """Vectors of the given keys, in the given order."""
        ...

    def article_count(self) -> int:
        ...

    def iter_articles_in_time_order(self, batch: int = 1000) -> Iterator[list[StoredArticle]]:
        """All articles by publication time (undated last), ties by id."""
        ...

    def iter_vectors(self, batch: int = 5000) -> Iterator[tuple[np.ndarray, Matrix]]:
        """(keys, vectors) of every article, by key."""
        ...

    def sample_vectors(self, step: int) -> Matrix:
        """Every ``step``-th stored vector by key: a sample spread over the history."""
        ...

    def term_frequencies(self) -> dict[str, int]:
        ...

    def index_seq(self) -> int:
        ...

    def story_event_seq(self) -> int:
        """The newest story event's sequence number: it moves whenever a story
        is created, grows, merges, splits or changes status (readers use it,
        with ``index_seq``, to see that the clustering changed)."""
        ...

    def stories_changed_since(self, seq: int) -> tuple[int, list[StoryId]]:
        """(the newest story event's number, the stories with events after event
        ``seq`` or named by one of them)."""
        ...

    def index_ops_since(self, seq: int) -> list[tuple[int, ArticleKey, str]]:
        ...

    def story(self, story_id: int) -> StoryRow | None:
        ...

    def story_text_chars(self, story_id: int) -> tuple[int, int]:
        """(members, total characters of their texts) of a story."""
        ...

    def split_pairs(self) -> list[tuple[StoryId, StoryId]]:
        """Stories that maintenance split apart, as (older, newer) id pairs."""
        ...

    def story_partitions(self, ids: Iterable[int] | None = None) -> dict[StoryId, int]:
        """The partition that owns each story a partitioned writer made (none for
        a single writer's stories), of these stories or all."""
        ...

    def live_story_states(
        self,
    ) -> Iterator[tuple[StoryId, int, np.ndarray, float | None, float | None]]:
        """(id, count, centroid sum, first, last) of every active or dormant story; the sum as
        stored (float32, read-only): start-up only normalises most."""
        ...

    def story_centroids(
        self, ids: Iterable[int],
    ) -> dict[StoryId, tuple[int, np.ndarray, float | None, float | None]]:
        """(count, centroid sum, first, last) of each of these stories that is
        live and not empty; the sum as stored (float32, read-only)."""
        ...

    def live_stories_before(self, cutoff: float) -> int:
        """About how many active or dormant stories were last active before ``cutoff``: counted on
        the activity index alone, without reading a row."""
        ...

    def stories_quiet_since(self, statuses: Sequence[str], cutoff: float) -> list[StoryId]:
        """Dated stories in ``statuses`` whose newest article is older than ``cutoff``."""
        ...

    def stories_by_ids(self, ids: Iterable[int]) -> dict[StoryId, StoryRow]:
        ...

    def stories_with_status(self, statuses: Sequence[str]) -> list[StoryRow]:
        ...

    def list_stories(
        self, statuses: Sequence[str], limit: int, after: tuple[float, int] | None, *,
        order: str = "last_updated", since: float | None = None, min_sources: int = 1,
    ) -> list[StoryRow]:
        """Stories by ``order`` ("last_updated": most recent activity first; "hotness": hottest
        first); ``after`` is the (sort value, id) of the last item of the previous page."""
        ...

    def member_times(self, story_id: int) -> list[float]:
        """Each member's publication time (its ingestion time when undated)."""
        ...

    def story_outlets(self, story_id: int) -> list[tuple[str, int]]:
        """Outlets by number of original articles (copies not counted)."""
        ...

    def story_timeline(self, story_id: int) -> list[tuple[str, str, int]]:
        """(UTC day, source, articles) of a dated story, by day then source."""
        ...

    def newest_member_keys(self, story_id: int, limit: int) -> list[ArticleKey]:
        ...

    def first_copy(self, embed_hash: str, exclude: int) -> StoredArticle | None:
        """The earliest stored article with exactly this embedded text."""
        ...

    def duplicate_counts(self, ids: Iterable[str]) -> dict[str, int]:
        ...

    def articles_by_ids(self, ids: Iterable[str]) -> dict[str, StoredArticle]:
        ...

    def signatures_of(self, keys: Sequence[int]) -> list[tuple[int, float | None, bytes]]:
        """(key, time, MinHash) of those of ``keys`` that have a sketch."""
        ...

    def recent_signatures(self, horizon: float | None) -> list[tuple[int, float | None, bytes]]:
        """(key, time, MinHash) of articles published at or after ``horizon`` (all when None) and of
        undated ones."""
        ...

    def story_articles(
        self, story_id: int, limit: int | None = None, after: tuple[float, int] | None = None
    ) -> list[StoredArticle]:
        """A story's articles by publication time, then key."""
        ...

    def member_keys(self, story_id: int) -> list[ArticleKey]:
        """A story's article keys, oldest first."""
        ...

    def first_members(self, story_ids: Iterable[int]) -> dict[StoryId, ArticleKey]:
        """Each story's first stored article (its stand-in before it is presented)."""
        ...

    def story_sources(self, story_id: int) -> list[tuple[str, int]]:
        ...

    def story_events(
        self, story_id: int, after: int = 0, limit: int | None = None
    ) -> list[StoryEvent]:
        """A story's events after sequence number ``after``, oldest first."""
        ...

    def merged_stories(self) -> list[tuple[StoryId, StoryId]]:
        """(absorbed id, id it was merged into) of every absorbed story."""
        ...

    def dirty_story_count(self) -> int:
        """Stories changed since they were last presented, and those a worker is presenting now."""
        ...

    def story_count(self, statuses: Sequence[str]) -> int:
        ...

    def assignments(self) -> dict[str, StoryId]:
        ...

    def storyline(self, storyline_id: int) -> StorylineRow | None:
        ...

    def storyline_stories(self, storyline_id: int) -> list[StoryRow]:
        """The storyline's live stories, oldest first."""
        ...

    def storyline_members(
        self, storyline_ids: Sequence[int],
    ) -> dict[StorylineId, list[StorylineMember]]:
        """Each storyline's live stories in brief, oldest first, in one query."""
        ...

    def list_storylines(
        self, statuses: Sequence[str], limit: int, after: tuple[float, int] | None, *,
        order: str = "last_updated", since: float | None = None, min_stories: int = 2,
    ) -> list[StorylineRow]:
        """Storylines of at least ``min_stories`` live stories, by activity or
        hotness (newest or hottest first), after the (sort value, id) cursor."""
        ...

    def story_storylines_of(self, story_ids: Sequence[int]) -> dict[StoryId, StorylineId | None]:
        """The storyline of each of these stories (None: it has none or is unknown),
        in the order given."""
        ...

    def story_storylines(self) -> dict[StoryId, StorylineId]:
        """The storyline of every live story that has one."""
        ...


class Writer(Reader, Protocol):

    def flush(self) -> None:
        ...

    def placement(self, keys: Iterable[int]) -> dict[int, tuple[StoryId, float | None]]:
        ...

    def index_seq(self) -> int:
        ...

    def index_ops_since(self, seq: int) -> list[tuple[int, ArticleKey, str]]:
        ...

    def story_events(
        self, story_id: int, after: int = 0, limit: int | None = None
    ) -> list[StoryEvent]:
        ...

    def set_meta(self, key: str, value: str) -> None:
        ...

    def insert_article(
        self, article: Article, vector: Vector, embed_hash: str, duplicate_of: str | None = None,
        minhash: bytes | None = None,
    ) -> ArticleKey:
        ...

    def update_article(
        self, key: ArticleKey, article: Article, vector: Vector, embed_hash: str,
        duplicate_of: str | None = None, minhash: bytes | None = None,
    ) -> None:
        ...

    def promote_duplicates(self, original_id: str) -> None:
        """Before an original goes: its earliest copy becomes the original of the rest."""
        ...

    def update_vector(self, key: ArticleKey, vector: Vector, embed_hash: str) -> None:
        ...

    def delete_article(self, key: ArticleKey) -> None:
        ...

    def log_index(self, key: ArticleKey, op: str) -> None:
        ...

    def assign(self, key: ArticleKey, story_id: StoryId, score: float | None, new: bool) -> None:
        ...

    def unassign(self, key: ArticleKey) -> None:
        ...

    def move_assignments(self, from_story: StoryId, to_story: StoryId) -> None:
        ...

    def create_story(self, story_id: StoryId | None = None,
                     partition: int | None = None) -> StoryId:
        """A new, empty story (``story_id``: an id that must be unused), owned by
        ``partition`` of a partitioned writer when given."""
        ...

    def set_story_partition(self, story_id: StoryId, partition: int) -> None:
        """Give a story to a partition of a partitioned writer."""
        ...

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        """A statement (``?`` placeholders) on tables a caller keeps for itself,
        in the same transaction (the scale-out coordinator's barriers)."""
        ...

    def take_commit_turn(self) -> None:
        """From here to the commit, wait for no other writer sharing the store
        to be between its own turn and its commit (no-op for a single writer)."""
        ...

    def save_story(
        self, story_id: StoryId, *, status: str, first_seen: float | None,
        last_updated: float | None, activity: float, article_count: int,
        centroid_sum: np.ndarray, merged_into: StoryId | None = None,
    ) -> None:
        ...

    def set_story_presentation(
        self, story_id: StoryId, presentation: Presentation, claimed: bool = False,
    ) -> None:
        """What readers see of a story. In the write that computed it, the story is no longer dirty.
        A ``claimed`` presentation was computed elsewhere from an earlier snapshot
        (``claim_for_presentation``): the story stays dirty if it changed since, and a relabel asked
        for meanwhile stands."""
        ...

    def claim_for_presentation(self, limit: int) -> list[StoryId]:
        """Up to ``limit`` dirty stories, marked clean and recorded as being presented: a change
        from now on marks them dirty again, and a crash before ``release_claims`` leaves them in
        ``presenting`` for the next start (``recover_claims``)."""
        ...

    def release_claims(self, story_ids: Sequence[StoryId], presented: bool) -> None:
        """End a claim; stories not ``presented`` are dirty again."""
        ...

    def recover_claims(self) -> int:
        """Stories claimed by a presenter that never finished are dirty again."""
        ...

    def set_status(self, story_id: StoryId, status: str) -> None:
        ...

    def delete_story(self, story_id: StoryId) -> None:
        ...

    def dirty_stories(self, limit: int = -1) -> list[StoryId]:
        """Stories changed since they were last presented, oldest id first."""
        ...

    def forget_presented_count(self, story_id: StoryId) -> None:
        """The next presentation relabels the story whatever its size (after a merge). -1, not 0: a
        presentation computed before this request (never-presented story, 0) must not overwrite
        it."""
        ...

    def add_event(
        self, story_id: StoryId, kind: str, at: float | None,
        article_id: str | None = None, other_id: StoryId | None = None,
    ) -> None:
        ...

    def rename_stories(self, renames: Sequence[tuple[StoryId, StoryId]]) -> None:
        """Give stories other ids; each target id must be unused."""
        ...

    def add_term_frequencies(self, delta: dict[str, int]) -> None:
        """Apply document-frequency changes; terms that reach zero are dropped."""
        ...

    def clear_term_frequencies(self) -> None:
        ...

    def clear_clustering(self) -> None:
        """Forget every story, assignment and storyline (before a full re-cluster)."""
        ...

    def create_storyline(self, at: float | None,
                         storyline_id: StorylineId | None = None) -> StorylineId:
        """A new, empty storyline (``storyline_id``: an id that must be unused).
        Its totals (stories, articles, span, activity, hotness, status) follow
        its members from then on, in the same write as each change of one."""
        ...

    def set_storyline(self, story_id: StoryId, storyline_id: StorylineId | None) -> None:
        ...

    def retire_storyline(self, storyline_id: StorylineId, merged_into: StorylineId) -> None:
        """A storyline whose stories all went to ``merged_into``: its id answers
        with that one from now on."""
        ...

    def rename_storylines(self, renames: Sequence[tuple[StorylineId, StorylineId]]) -> None:
        """Give storylines other ids; each target id must be unused."""
        ...


class Store(Protocol):
    """A store backend: readers, the one writer, health and closing."""

    location: str
    """Where the store lives, for messages (a file, or an address without its password)."""

    @property
    def schema_version(self) -> int:
        """The schema's migration number."""
        ...

    def read(self) -> AbstractContextManager[Reader]:
        """A consistent read snapshot on this thread."""
        ...

    def write(self, late_turn: bool = False) -> AbstractContextManager[Writer]:
        """The one write transaction: committed durably on success, rolled
        back entirely on any exception. With writers sharing the store (a
        partitioned writer), ``late_turn`` defers waiting for the commit turn
        until ``Writer.take_commit_turn``."""
        ...

    def ping(self) -> bool:
        """True when the store answers a read."""
        ...

    def close(self) -> None:
        """Close every connection."""
        ...
