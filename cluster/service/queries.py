"""The service's read side: related coverage, stories, articles and health.

Reads take one consistent store snapshot and the in-memory index; they never
write and never hold the write lock for longer than a clusterer lookup
(``predict_one`` changes nothing, so a guess for new text leaves the
clusterer as it was).
"""

from __future__ import annotations

import math

import numpy as np

from cluster.articles.incoming import display_title
from cluster.embedding.models import embedding_text, text_fingerprint
from cluster.errors import InvalidInput, NotFound
from cluster.service.runtime import ServiceRuntime
from cluster.service.storyline_views import (
    StorylineQuery,
    background,
    storyline_detail,
    storyline_page,
    storyline_refs,
)
from cluster.service.view_builders import (
    RelatedFilters,
    StoryQuery,
    iso,
    related_items,
    resolve_story,
    story_detail,
    story_history,
    story_page,
    story_summaries,
    story_timeline,
)
from cluster.service.views import (
    ArticleView,
    DayCount,
    Readiness,
    RelatedResult,
    StoryDetail,
    StoryGuess,
    StoryHistory,
    StorylineDetail,
    StorylinePage,
    StoryPage,
    StorySummary,
)
from cluster.stories.headlines import story_headline
from cluster.storylines.ids import storylines_of_articles
from cluster.text.lexical import article_terms
from cluster.types import StoryId, StorylineId


class Queries:
    """Answers every read from one consistent store snapshot, the index and
    the clusterer's centroids."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self._rt = runtime

    # -- articles ------------------------------------------------------------
    def get_article(self, article_id: str) -> ArticleView:
        with self._rt.store.read() as reader:
            article = reader.article_by_id(article_id)
            if article is None:
                raise NotFound("article", article_id)
            line = (storyline_refs(reader, [article.story_id]).get(article.story_id)
                    if article.story_id is not None else None)
        title, derived = display_title(article.title, article.text)
        return ArticleView(
            article.id, title, article.text, article.source, article.url,
            iso(article.published_at), article.lang, article.story_id, article.duplicate_of,
            derived, line.id if line is not None else None,
        )

    def article_count(self) -> int:
        with self._rt.store.read() as reader:
            return reader.article_count()

    # -- related coverage ----------------------------------------------------
    def related(self, article_id: str, filters: RelatedFilters | None = None) -> RelatedResult:
        """Other coverage of a stored article: its story first, then neighbours."""
        filters = self._checked(filters)
        with self._rt.store.read() as reader:
            article = reader.article_by_id(article_id)
            if article is None:
                raise NotFound("article", article_id)
            vector = reader.vectors([article.key])[0]
            items = related_items(reader, self._rt.index, vector, filters, article.key,
                                  article.story_id, article.duplicate_of or article.id,
                                  article.embed_hash)
            line, earlier = background(reader, article.story_id)
        return RelatedResult(article.id, article.story_id, items, None, line, earlier)

    def related_to_text(
        self, title: str, text: str, filters: RelatedFilters | None = None,
        timestamp: float | None = None,
    ) -> RelatedResult:
        """Related coverage for an unstored article, and the story it would join
        if it were published at ``timestamp`` (default: the service's clock)."""
        filters = self._checked(filters)
        if not title.strip():
            raise InvalidInput("title", "must not be empty")
        body = embedding_text(title, text, self._rt.settings.lead_chars)
        vector = self._rt.embedder.embed([body])[0]
        with self._rt.store.read() as reader:
            neighbours = self._rt.neighbours(reader, vector, None,
                                             self._rt.settings.cluster.neighbours)
            with self._rt.lock:
                decision = self._rt.clusterer.predict_one(
                    vector, self._rt.clock() if timestamp is None else timestamp, neighbours,
                    body_chars=len(text.strip()), terms=self._rt.terms.weigh(article_terms(body)))
            label = None
            if decision.story_id is not None:
                row = reader.story(decision.story_id)
                label = row.label if row is not None else None
            items = related_items(reader, self._rt.index, vector, filters, None, decision.story_id,
                                  None, text_fingerprint(body, self._rt.embedder.model_name))
            line, earlier = background(reader, decision.story_id)
        score = round(decision.score, 4) if math.isfinite(decision.score) else 0.0
        guess = StoryGuess(decision.story_id, score, label)
        return RelatedResult(None, decision.story_id, items, guess, line, earlier)

    def _checked(self, filters: RelatedFilters | None) -> RelatedFilters:
        filters = filters or RelatedFilters()
        if not 1 <= filters.k <= self._rt.settings.max_k:
            raise InvalidInput("k", f"must be between 1 and {self._rt.settings.max_k}")
        if not 0 <= filters.per_source <= self._rt.settings.max_k:
            raise InvalidInput("per_source",
                               f"must be between 0 (no limit) and {self._rt.settings.max_k}")
        if (filters.since is not None and filters.until is not None
                and filters.since > filters.until):
            raise InvalidInput("since", "must not be after until")
        return filters

    # -- stories -------------------------------------------------------------
    def list_stories(self, query: StoryQuery | None = None) -> StoryPage:
        query = query or StoryQuery()
        with self._rt.store.read() as reader:
            return story_page(reader, query, self._rt.clock(),
                              self._rt.settings.hotness_half_life_hours)

    def search_stories(self, text: str, query: StoryQuery | None = None) -> StoryPage:
        """Joinable (active and dormant) stories nearest to ``text`` by centroid."""
        query = query or StoryQuery(status="all")
        query.statuses()
        if not text.strip():
            raise InvalidInput("q", "must not be empty")
        vector = self._rt.embedder.embed([text.strip()])[0]
        with self._rt.lock:
            nearest = self._rt.clusterer.nearest_stories(vector, 4 * query.limit + 20)
        with self._rt.store.read() as reader:
            rows = reader.stories_by_ids(story for story, _ in nearest)
            matches = dict(nearest)
            chosen = [rows[s] for s, _ in nearest if s in rows and query.admits(rows[s])]
            return StoryPage(story_summaries(
                reader, chosen[:query.limit], self._rt.clock(),
                self._rt.settings.hotness_half_life_hours, matches), None)

    def get_story(self, story_id: int, limit: int = 50, cursor: str | None = None) -> StoryDetail:
        with self._rt.store.read() as reader:
            return story_detail(reader, story_id, limit, cursor, self._rt.clock(),
                                self._rt.settings.hotness_half_life_hours)

    def story_events(self, story_id: int, limit: int = 100,
                     cursor: str | None = None) -> StoryHistory:
        with self._rt.store.read() as reader:
            return story_history(reader, story_id, limit, cursor)

    # -- storylines ----------------------------------------------------------
    def list_storylines(self, query: StorylineQuery | None = None) -> StorylinePage:
        with self._rt.store.read() as reader:
            return storyline_page(reader, query or StorylineQuery(), self._rt.clock(),
                                  self._rt.settings.hotness_half_life_hours)

    def get_storyline(self, storyline_id: int) -> StorylineDetail:
        with self._rt.store.read() as reader:
            return storyline_detail(reader, storyline_id, self._rt.clock(),
                                    self._rt.settings.hotness_half_life_hours)

    def assignments(self) -> dict[str, StoryId]:
        """Every article id with its story id (evaluation)."""
        with self._rt.store.read() as reader:
            return reader.assignments()

    # -- health --------------------------------------------------------------
    def article_storylines(self) -> dict[str, StorylineId]:
        with self._rt.store.read() as reader:
            return storylines_of_articles(reader)

    def readiness(self) -> Readiness:
        """Store reachable, index loaded and holding exactly the store's articles."""
        with self._rt.store.read() as reader:
            stored = reader.article_count()
            seq = reader.index_seq()
        indexed = len(self._rt.index)
        return Readiness(stored, indexed, stored == indexed, seq, self._rt.snapshot_seq,
                         self._rt.snapshot_failures)

    def story_headlines(self) -> dict[int, tuple[str, str]]:
        """(headline, label) of every live story (evaluation)."""
        with self._rt.store.read() as reader:
            rows = reader.stories_with_status(("active", "dormant", "archived"))
            titles = reader.articles_by_keys(
                r.representative for r in rows if r.representative is not None)
        return {int(r.id): (story_headline(titles[r.representative].title,
                                           titles[r.representative].text,
                                           titles[r.representative].source)
                            if r.representative is not None and r.representative in titles
                            else "", r.label) for r in rows}

    def story_timelines(self, story_ids: list[int]) -> dict[int, list[DayCount]]:
        """Per-day article counts of several stories (the web page's sparklines)."""
        with self._rt.store.read() as reader:
            return {sid: story_timeline(reader, StoryId(sid)) for sid in story_ids}

    def related_stories(self, story_id: int, k: int = 5) -> list[StorySummary]:
        """The joinable stories whose centroids are nearest to this story's."""
        with self._rt.store.read() as reader:
            row, _ = resolve_story(reader, story_id)
            direction = np.asarray(row.centroid_sum, dtype=np.float32)
            norm = float(np.linalg.norm(direction))
            if norm == 0.0:
                return []
            with self._rt.lock:
                nearest = self._rt.clusterer.nearest_stories(direction / norm, k + 1)
            rows = reader.stories_by_ids(s for s, _ in nearest if s != row.id)
            chosen = [rows[s] for s, _ in nearest if s in rows][:k]
            return story_summaries(reader, chosen, self._rt.clock(),
                                   self._rt.settings.hotness_half_life_hours, dict(nearest))

    def story_counts(self) -> dict[str, int]:
        """Stories per status (metrics)."""
        with self._rt.store.read() as reader:
            return {status: reader.story_count((status,))
                    for status in ("active", "dormant", "archived", "merged")}
