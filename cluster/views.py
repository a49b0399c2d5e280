"""What the service returns: plain, typed, JSON-ready records."""

from __future__ import annotations

from dataclasses import dataclass

from cluster.types import StoryId


@dataclass(frozen=True)
class ArticleView:
    id: str
    title: str
    text: str
    source: str
    url: str | None
    published_at: str | None
    lang: str | None
    story_id: StoryId | None
    duplicate_of: str | None = None


@dataclass(frozen=True)
class ArticleRef:
    """The short form of an article inside other records."""

    id: str
    title: str
    source: str
    url: str | None
    published_at: str | None


@dataclass(frozen=True)
class IngestResult:
    id: str
    story_id: StoryId
    new_story: bool
    status: str
    """'created', 'updated' or 'unchanged'."""


@dataclass(frozen=True)
class RelatedItem:
    article: ArticleRef
    score: float
    story_id: StoryId | None
    same_story: bool
    copies: int
    """How many identical copies (same title and text) were folded into this result."""


@dataclass(frozen=True)
class StoryGuess:
    """The story an unstored text would join (None: it would start a new one)."""

    story_id: StoryId | None
    score: float
    label: str | None


@dataclass(frozen=True)
class RelatedResult:
    query_id: str | None
    story_id: StoryId | None
    items: list[RelatedItem]
    would_join: StoryGuess | None = None


@dataclass(frozen=True)
class StorySummary:
    id: StoryId
    label: str
    status: str
    representative_article: ArticleRef | None
    article_count: int
    source_count: int
    first_seen: str | None
    last_updated: str | None


@dataclass(frozen=True)
class SourceCount:
    source: str
    articles: int


@dataclass(frozen=True)
class StoryPage:
    items: list[StorySummary]
    next_cursor: str | None


@dataclass(frozen=True)
class StoryDetail:
    story: StorySummary
    sources: list[SourceCount]
    articles: list[ArticleRef]
    next_cursor: str | None
    merged_into: StoryId | None = None


@dataclass(frozen=True)
class Readiness:
    articles: int
    indexed: int
    in_sync: bool
    store_seq: int
    snapshot_seq: int
