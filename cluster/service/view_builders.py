"""The read side: related coverage and story views built from one consistent
store snapshot (a ``Reader``) and the vector index. Nothing here writes."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import numpy as np

from cluster.articles.incoming import display_title
from cluster.errors import InvalidInput, NotFound
from cluster.index.backends import VectorIndex
from cluster.service.cursor import decode_cursor, encode_cursor
from cluster.service.views import (
    ArticleRef,
    DayCount,
    RelatedItem,
    SourceCount,
    StoryDetail,
    StoryEventView,
    StoryHistory,
    StoryPage,
    StorySummary,
    SummarySentenceView,
)
from cluster.store import Reader, StoredArticle, StoryRow
from cluster.stories.headlines import story_headline
from cluster.stories.presentation import hotness_at
from cluster.types import ArticleKey, StoryId, Vector

STATUSES = ("active", "dormant", "archived")
ORDERS = ("hotness", "last_updated")
SAME_STORY_CAP = 500
"""Newest members of the query's story scored directly, beyond its neighbours."""


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat().replace("+00:00", "Z")


def article_ref(article: StoredArticle) -> ArticleRef:
    title, derived = display_title(article.title, article.text)
    return ArticleRef(article.id, title, article.source, article.url,
                      iso(article.published_at), article.duplicate_of, derived)


@dataclass(frozen=True)
class RelatedFilters:
    """What a reader asked of related coverage."""

    k: int = 10
    per_source: int = 1
    """Results per outlet; 0 for no limit."""
    since: float | None = None
    until: float | None = None
    exclude_sources: frozenset[str] = field(default_factory=frozenset)
    """Lower-cased outlet names."""
    min_score: float = -1.0
    """Coverage from other stories must be at least this similar (the query's own
    story is always shown)."""

    def admits(self, article: StoredArticle) -> bool:
        if article.source.lower() in self.exclude_sources:
            return False
        when = article.published_at
        if self.since is not None and (when is None or when < self.since):
            return False
        return not (self.until is not None and (when is None or when > self.until))


def related_items(
    reader: Reader, index: VectorIndex, vector: Vector, filters: RelatedFilters,
    exclude: int | None, story_id: StoryId | None, own_root: str | None, own_hash: str,
) -> list[RelatedItem]:
    """Other coverage: the query's story first (by similarity), then neighbouring
    stories; copies folded into their original with a count; at most
    ``per_source`` per outlet; the query's own copies left out.

    Every member of the query's story is scored, from the index's in-memory
    copy of its vector (exact in an exact index; in IVF, decoded from the same
    8-bit codes that score the neighbours), but only the best ones are read
    in full (a big story has hundreds, and reading their rows was most of a
    query's time): first as many as the neighbour search fetches, more only
    if filters, copies and outlet caps leave fewer than ``k`` of them. The
    answer is the one all members would give, since the story's items come
    first and in score order."""
    k = filters.k
    ranked: list[tuple[float, int]] = []
    if story_id is not None:
        members = reader.newest_member_keys(story_id, SAME_STORY_CAP)
        if members:
            # reading up to hundreds of scattered stored vectors was most of a
            # query's time at a million articles while the store was not cached
            vectors, held = index.lookup(np.asarray(members, dtype=np.int64))
            if not held.all():  # the index is being refilled (re-clustering, recovery)
                vectors[~held] = reader.vectors(
                    [m for m, h in zip(members, held.tolist(), strict=True) if not h])
            similarities = vectors @ vector
            # a score that is not a number (a damaged vector) never reaches an answer
            ranked = sorted(((float(score), int(member)) for member, score
                             in zip(members, similarities, strict=True)
                             if math.isfinite(score)),
                            key=lambda pair: (-round(pair[0], 6), pair[1]))
    fetch = min(max(5 * k + 20, 50), max(len(index), 1))
    scores, keys = index.search(vector.reshape(1, -1), fetch)
    neighbours = [(int(key), float(score))
                  for key, score in zip(keys[0], scores[0], strict=True)
                  if key >= 0 and math.isfinite(score)]
    take = fetch
    while True:
        chosen = _choose(reader, ranked[:take], {m for _, m in ranked[take:]}, neighbours,
                         filters, exclude, story_id, own_root, own_hash)
        if take >= len(ranked) or (len(chosen) == k and all(i.same_story for i in chosen)):
            return chosen
        take *= 4


def _choose(
    reader: Reader, members: list[tuple[float, int]], unread: set[int],
    neighbours: list[tuple[int, float]], filters: RelatedFilters, exclude: int | None,
    story_id: StoryId | None, own_root: str | None, own_hash: str,
) -> list[RelatedItem]:
    """The answer from these story members (score, key) and index neighbours;
    ``unread`` members (scored lower than all of ``members``) are left out of
    the neighbours too, so none enters with the index's approximate score."""
    k = filters.k
    scored: dict[int, float] = {key: score for score, key in members}
    for key, score in neighbours:
        if key not in unread:
            scored.setdefault(key, score)
    scored.pop(exclude if exclude is not None else -1, None)
    articles = reader.articles_by_keys(scored)
    groups: dict[str, tuple[float, StoredArticle]] = {}
    for key, score in scored.items():
        article = articles.get(ArticleKey(key))
        if article is None or article.embed_hash == own_hash:
            continue
        root = article.duplicate_of or article.id
        if root == own_root or not filters.admits(article):
            continue
        if score < filters.min_score and (story_id is None or article.story_id != story_id):
            continue
        best = groups.get(root)
        if best is None or (score, -article.key) > (best[0], -best[1].key):
            groups[root] = (score, article)
    originals = reader.articles_by_ids(r for r, (_, a) in groups.items() if a.id != r)
    copies = reader.duplicate_counts(groups)

    def order(item: tuple[str, tuple[float, StoredArticle]]) -> tuple[bool, float, int]:
        _, (score, article) = item
        return (article.story_id != story_id or story_id is None, -round(score, 6), article.key)

    chosen: list[RelatedItem] = []
    per_source: dict[str, int] = {}
    for root, (score, found) in sorted(groups.items(), key=order):
        shown = originals.get(root, found)
        if not filters.admits(shown):
            shown = found
        outlet = shown.source.lower()
        if filters.per_source and per_source.get(outlet, 0) >= filters.per_source:
            continue
        per_source[outlet] = per_source.get(outlet, 0) + 1
        title, derived = display_title(shown.title, shown.text)
        chosen.append(RelatedItem(
            shown.id, title, shown.source, shown.url, iso(shown.published_at),
            found.story_id, round(score, 4), story_id is not None and found.story_id == story_id,
            copies.get(root, 0), derived,
        ))
        if len(chosen) == k:
            break
    return chosen


def story_summaries(
    reader: Reader, rows: list[StoryRow], now: float | None, half_life_hours: float,
    matches: dict[StoryId, float] | None = None,
) -> list[StorySummary]:
    """Summaries of several stories, their representatives read in one query."""
    # A story not presented yet (the background presenter has not reached it)
    # shows its first article until it gets a representative.
    stand_ins = reader.first_members(r.id for r in rows if r.representative is None)
    chosen = {row.id: row.representative if row.representative is not None
              else stand_ins.get(row.id) for row in rows}
    representatives = reader.articles_by_keys([k for k in chosen.values() if k is not None])
    shown_lines = {line for line in {r.storyline_id for r in rows if r.storyline_id is not None}
                   if (found_line := reader.storyline(line)) is not None
                   and found_line.story_count >= 2}
    summaries = []
    for row in rows:
        key = chosen[row.id]
        found = representatives.get(key) if key is not None else None
        hotness = row.hotness if now is None else hotness_at(row.hotness, now, half_life_hours)
        summaries.append(StorySummary(
            row.id, row.label,
            story_headline(found.title, found.text, found.source) if found is not None else None,
            [SummarySentenceView(s["text"], s["article_id"], s["source"]) for s in row.summary],
            row.status, article_ref(found) if found is not None else None,
            row.article_count, row.source_count,
            [SourceCount(source, n) for source, n in row.top_sources],
            iso(row.first_seen), iso(row.last_updated),
            round(hotness, 4) if math.isfinite(hotness) else 0.0,
            None if matches is None else round(matches.get(row.id, 0.0), 4),
            row.storyline_id if row.storyline_id in shown_lines else None,
        ))
    return summaries


@dataclass(frozen=True)
class StoryQuery:
    """A story listing request: which stories, in which order."""

    status: str = "active"
    limit: int = 20
    cursor: str | None = None
    order: str = "hotness"
    since: float | None = None
    min_sources: int = 1

    def statuses(self) -> tuple[str, ...]:
        if self.status != "all" and self.status not in STATUSES:
            raise InvalidInput("status", f"must be one of {', '.join(STATUSES)} or all")
        if not 1 <= self.limit <= 200:
            raise InvalidInput("limit", "must be between 1 and 200")
        if self.order not in ORDERS:
            raise InvalidInput("order", f"must be one of {', '.join(ORDERS)}")
        if self.min_sources < 1:
            raise InvalidInput("min_sources", "must be at least 1")
        return STATUSES if self.status == "all" else (self.status,)

    def admits(self, row: StoryRow) -> bool:
        if row.status not in self.statuses() or row.source_count < self.min_sources:
            return False
        return self.since is None or (row.last_updated is not None
                                      and row.last_updated >= self.since)


def story_page(reader: Reader, query: StoryQuery, now: float | None,
               half_life_hours: float) -> StoryPage:
    """A page of stories in the query's order."""
    statuses = query.statuses()
    after = decode_cursor(query.cursor) if query.cursor else None
    rows = reader.list_stories(statuses, query.limit + 1, after, order=query.order,
                               since=query.since, min_sources=query.min_sources)
    items = story_summaries(reader, rows[:query.limit], now, half_life_hours)
    next_cursor = None
    if len(rows) > query.limit:
        last = rows[query.limit - 1]
        next_cursor = encode_cursor(last.hotness if query.order == "hotness" else last.activity,
                                    last.id)
    return StoryPage(items, next_cursor)


MAX_ID = 2**63 - 1
"""SQLite's largest integer: an id beyond it names no story."""


class Merged(Protocol):
    """A record that may answer for another one it was merged into."""

    @property
    def id(self) -> int: ...

    @property
    def status(self) -> str: ...

    @property
    def merged_into(self) -> int | None: ...


Record = TypeVar("Record", bound=Merged)


def follow_merges(kind: str, wanted: int,
                  fetch: Callable[[int], Record | None]) -> tuple[Record, int | None]:
    """The record with id ``wanted``, or the live one it was merged into (and
    that one's id); ``kind`` names it in the 404."""
    row = fetch(wanted) if -MAX_ID <= wanted <= MAX_ID else None
    if row is None:
        raise NotFound(kind, wanted)
    merged_into: int | None = None
    hops = 0
    while row.status == "merged" and row.merged_into is not None and hops < 100:
        target = fetch(row.merged_into)
        if target is None:
            raise NotFound(kind, wanted)
        merged_into, row, hops = target.id, target, hops + 1
    return row, merged_into


def resolve_story(reader: Reader, story_id: int) -> tuple[StoryRow, StoryId | None]:
    """The story, or the live story that absorbed it (and that story's id)."""
    row, merged_into = follow_merges("story", story_id, reader.story)
    return row, None if merged_into is None else StoryId(merged_into)


def story_timeline(reader: Reader, story_id: StoryId) -> list[DayCount]:
    """Articles per UTC day, and per source within each day."""
    days: dict[str, list[SourceCount]] = {}
    for day, source, count in reader.story_timeline(story_id):
        days.setdefault(day, []).append(SourceCount(source, count))
    return [DayCount(day, sum(s.articles for s in per), per) for day, per in days.items()]


def story_detail(reader: Reader, story_id: int, limit: int, cursor: str | None,
                 now: float | None, half_life_hours: float) -> StoryDetail:
    """One story with its timeline and a page of its articles; an absorbed
    story answers with the story that absorbed it and says so in ``merged_into``."""
    if not 1 <= limit <= 500:
        raise InvalidInput("limit", "must be between 1 and 500")
    after = decode_cursor(cursor) if cursor else None
    row, merged_into = resolve_story(reader, story_id)
    members = reader.story_articles(row.id, limit + 1, after)
    sources = [SourceCount(s, n) for s, n in reader.story_sources(row.id)]
    timeline = story_timeline(reader, row.id)
    page = members[:limit]
    next_cursor = None
    if len(members) > limit:
        last = page[-1]
        next_cursor = encode_cursor(last.published_at or 0.0, int(last.key))
    summary = story_summaries(reader, [row], now, half_life_hours)[0]
    return StoryDetail(summary, sources, timeline, [article_ref(a) for a in page], next_cursor,
                       merged_into)


def story_history(reader: Reader, story_id: int, limit: int, cursor: str | None) -> StoryHistory:
    """The story's events, oldest first; an absorbed story's own history."""
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit", "must be between 1 and 1000")
    after = int(decode_cursor(cursor)[1]) if cursor else 0
    row = reader.story(story_id) if -MAX_ID <= story_id <= MAX_ID else None
    if row is None:
        raise NotFound("story", story_id)
    events = reader.story_events(story_id, after, limit + 1)
    page = events[:limit]
    next_cursor = encode_cursor(0.0, page[-1].seq) if len(events) > limit else None
    return StoryHistory(
        row.id, row.merged_into,
        [StoryEventView(e.kind, iso(e.at), e.article_id, e.other_id) for e in page],
        next_cursor,
    )
