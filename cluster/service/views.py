"""What the service returns: plain, typed, JSON-ready records."""

from __future__ import annotations

from dataclasses import dataclass, field

from cluster.types import StoryId, StorylineId


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
    title_derived: bool = False
    """The article came without a title: ``title`` is its text's first sentence."""
    storyline_id: StorylineId | None = None
    """The storyline of the article's story, if it belongs to one."""


@dataclass(frozen=True)
class ArticleRef:
    """The short form of an article inside other records."""

    id: str
    title: str
    source: str
    url: str | None
    published_at: str | None
    duplicate_of: str | None = None
    title_derived: bool = False
    """The article came without a title: ``title`` is its text's first sentence."""


@dataclass(frozen=True)
class IngestResult:
    id: str
    story_id: StoryId
    new_story: bool
    status: str
    """'created', 'updated' or 'unchanged'."""
    duplicate_of: str | None = None


@dataclass(frozen=True)
class RelatedItem:
    """One article of related coverage; copies of it are folded into ``duplicates``."""

    id: str
    title: str
    source: str
    url: str | None
    published_at: str | None
    story_id: StoryId | None
    score: float
    same_story: bool
    duplicates: int
    """How many stored near-copies (wire copies, republications) it stands for."""
    title_derived: bool = False
    """The article came without a title: ``title`` is its text's first sentence."""


@dataclass(frozen=True)
class StoryGuess:
    """The story an unstored text would join (None: it would start a new one)."""

    story_id: StoryId | None
    score: float
    label: str | None


@dataclass(frozen=True)
class SourceCount:
    source: str
    articles: int


@dataclass(frozen=True)
class StorylineStory:
    """One story as a storyline lists it."""

    id: StoryId
    headline: str | None
    label: str
    status: str
    first_seen: str | None
    last_updated: str | None
    article_count: int
    source_count: int
    top_sources: list[SourceCount]


@dataclass(frozen=True)
class StorylineRef:
    """The short form of a storyline inside other records."""

    id: StorylineId
    label: str
    story_count: int


@dataclass(frozen=True)
class RelatedResult:
    query_id: str | None
    story_id: StoryId | None
    items: list[RelatedItem]
    would_join: StoryGuess | None = None
    storyline: StorylineRef | None = None
    """The storyline of the query's story (stored article or the story it would join)."""
    background: list[StorylineStory] = field(default_factory=list)
    """The storyline's stories that started before the query's story, newest
    first: what led up to it."""


@dataclass(frozen=True)
class SummarySentenceView:
    text: str
    article_id: str
    source: str


@dataclass(frozen=True)
class StorySummary:
    id: StoryId
    label: str
    """3-5 key terms or names, joined by " · "."""
    headline: str | None
    """The title of the representative article."""
    summary: list[SummarySentenceView]
    status: str
    representative_article: ArticleRef | None
    article_count: int
    source_count: int
    """Outlets with their own coverage in the story (copies do not count)."""
    top_sources: list[SourceCount]
    first_seen: str | None
    last_updated: str | None
    hotness: float
    """ln(Σ 2^-(age/half-life) over articles) + ln(1 + sources), at the service's clock."""
    match: float | None = None
    """Cosine of a search query to the story's centroid (only in search results)."""
    storyline_id: StorylineId | None = None
    """The storyline the story belongs to, if any."""


@dataclass(frozen=True)
class StoryPage:
    items: list[StorySummary]
    next_cursor: str | None


@dataclass(frozen=True)
class DayCount:
    day: str
    articles: int
    sources: list[SourceCount]


@dataclass(frozen=True)
class StoryDetail:
    story: StorySummary
    sources: list[SourceCount]
    timeline: list[DayCount]
    """Articles per UTC day, and per source within each day (dated articles only)."""
    articles: list[ArticleRef]
    next_cursor: str | None
    merged_into: StoryId | None = None


@dataclass(frozen=True)
class StoryEventView:
    kind: str
    """created, grew, merged, split, status_changed."""
    at: str | None
    article_id: str | None
    other_story_id: StoryId | None


@dataclass(frozen=True)
class StoryHistory:
    story_id: StoryId
    merged_into: StoryId | None
    events: list[StoryEventView]
    next_cursor: str | None


@dataclass(frozen=True)
class Readiness:
    articles: int
    indexed: int
    in_sync: bool
    store_seq: int
    snapshot_seq: int
    snapshot_failures: int = 0
    """Snapshots that could not be written since the service opened (the
    writes they followed were stored; start-up replays them from the store)."""
    role: str = "all"
    """"all" (one process does everything), "writer" or "reader"."""
    behind: int = 0
    """A reader's: index log entries the store holds that its replica has not
    replayed yet (0 when caught up)."""


@dataclass(frozen=True)
class StorylineSummary:
    id: StorylineId
    label: str
    """The key terms its stories' labels share (or its largest story's label)."""
    status: str
    """The liveliest story's status: active, dormant or archived."""
    story_count: int
    article_count: int
    first_seen: str | None
    last_updated: str | None
    hotness: float
    """Its hottest story's hotness, at the service's clock."""
    top_sources: list[SourceCount]
    """Outlets by articles across its stories."""
    latest: StorylineStory | None
    """Its most recently updated story: the development's latest step."""


@dataclass(frozen=True)
class StorylinePage:
    items: list[StorylineSummary]
    next_cursor: str | None


@dataclass(frozen=True)
class StorylineDetail:
    storyline: StorylineSummary
    stories: list[StorylineStory]
    """Its stories in time order (first article), oldest first."""
    timeline: list[DayCount]
    """Articles per UTC day across its stories, and per source within each day."""
    merged_into: StorylineId | None = None
