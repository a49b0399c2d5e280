"""The store's rows as typed records, and the column lists that read them."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from cluster.articles.incoming import Article
from cluster.types import ArticleKey, StoryId, StorylineId, Vector

ARTICLE_COLUMNS = (
    "a.key, a.id, a.title, a.text, a.source, a.url, a.published_at, a.lang, "
    "a.content_hash, a.embed_hash, a.duplicate_of, s.story_id, s.score, s.new_story"
)
STORY_COLUMNS = (
    "id, status, first_seen, last_updated, activity, article_count, source_count, "
    "centroid_sum, label, representative, merged_into, dirty, summary, hotness, "
    "presented_count, top_sources, storyline_id"
)
STORYLINE_COLUMNS = (
    "id, status, merged_into, created_at, story_count, article_count, first_seen, "
    "last_updated, activity, hotness"
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
class Presentation:
    """What readers see of a story besides its members; written by
    ``Writer.set_story_presentation``."""

    label: str
    representative: ArticleKey | None
    summary: list[dict[str, str]]
    hotness: float
    top_sources: list[tuple[str, int]]
    source_count: int
    presented_count: int
    seen_presented_count: int
    """The stored ``presented_count`` this was computed from: a presentation
    computed outside the write lock must not undo a reset made meanwhile (a
    merge asks for a relabel by zeroing it)."""


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
    summary: list[dict[str, str]] = field(default_factory=list)
    """Sentences as {"text", "article_id", "source"}."""
    hotness: float = 0.0
    presented_count: int = 0
    top_sources: list[tuple[str, int]] = field(default_factory=list)
    storyline_id: StorylineId | None = None


@dataclass(frozen=True)
class StorylineRow:
    """A storyline and its live member stories' totals (kept by the store)."""

    id: StorylineId
    status: str
    """The liveliest member's status (active, dormant, archived), or merged."""
    merged_into: StorylineId | None
    created_at: float | None
    story_count: int
    article_count: int
    first_seen: float | None
    last_updated: float | None
    activity: float
    hotness: float
    """The hottest member's stored hotness key."""


@dataclass(frozen=True)
class StorylineMember:
    """What a storyline's summary needs of one of its stories."""

    story_id: StoryId
    label: str
    article_count: int
    last_updated: float | None
    top_sources: list[tuple[str, int]]


@dataclass(frozen=True)
class StoryEvent:
    seq: int
    story_id: StoryId
    kind: str
    at: float | None
    article_id: str | None
    other_id: StoryId | None


def article_record(row: sqlite3.Row) -> StoredArticle:
    return StoredArticle(
        key=ArticleKey(row[0]), id=row[1], title=row[2], text=row[3], source=row[4], url=row[5],
        published_at=row[6], lang=row[7], content_hash=row[8], embed_hash=row[9],
        duplicate_of=row[10], story_id=None if row[11] is None else StoryId(row[11]),
        score=row[12], new_story=bool(row[13]),
    )


def story_record(row: sqlite3.Row) -> StoryRow:
    return StoryRow(
        id=StoryId(row[0]), status=row[1], first_seen=row[2], last_updated=row[3],
        activity=row[4], article_count=row[5], source_count=row[6],
        centroid_sum=blob_sum(row[7]), label=row[8],
        representative=None if row[9] is None else ArticleKey(row[9]),
        merged_into=None if row[10] is None else StoryId(row[10]), dirty=bool(row[11]),
        summary=json.loads(row[12]), hotness=row[13], presented_count=row[14],
        top_sources=[(str(s), int(n)) for s, n in json.loads(row[15])],
        storyline_id=None if row[16] is None else StorylineId(row[16]),
    )


def storyline_record(row: sqlite3.Row) -> StorylineRow:
    return StorylineRow(
        id=StorylineId(row[0]), status=row[1],
        merged_into=None if row[2] is None else StorylineId(row[2]), created_at=row[3],
        story_count=row[4], article_count=row[5], first_seen=row[6], last_updated=row[7],
        activity=row[8], hotness=row[9],
    )


def vector_blob(vector: Vector) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def blob_vector(blob: bytes) -> Vector:
    return np.frombuffer(blob, dtype=np.float32).copy()


def sum_blob(total: np.ndarray) -> bytes:
    """A story's centroid sum as stored: float32 (schema 8). The sum is kept
    in float64 while it is updated in memory; a sum read back differs from it
    by float32 rounding (a relative 6e-8), far below any score's resolution,
    and half the bytes keep a story row inside half a page."""
    return np.ascontiguousarray(total, dtype=np.float32).tobytes()


def blob_sum(blob: bytes) -> np.ndarray:
    """A stored centroid sum, widened to float64 for updating."""
    return np.frombuffer(blob, dtype=np.float32).astype(np.float64)


def narrowed_sum(blob: bytes) -> bytes:
    """A schema-7 float64 sum as schema 8 stores it (the migration's SQL function)."""
    return np.frombuffer(blob, dtype=np.float64).astype(np.float32).tobytes()


def as_article(stored: StoredArticle) -> Article:
    """A stored article back as the ingest path's record (re-clustering)."""
    published = (None if stored.published_at is None
                 else datetime.fromtimestamp(stored.published_at, UTC))
    return Article(stored.id, stored.title, stored.text, stored.source, stored.url, published,
                   stored.lang)
