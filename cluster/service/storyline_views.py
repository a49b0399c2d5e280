"""Storyline views built from one store snapshot: the listing, one
storyline with its stories and timeline, and the short forms that stories,
articles and related coverage carry. Nothing here writes; labels and
totals are read or derived from the stored stories, so they match them."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from cluster.errors import InvalidInput, NotFound
from cluster.service.cursor import decode_cursor, encode_cursor
from cluster.service.view_builders import ORDERS, STATUSES, follow_merges, iso, story_timeline
from cluster.service.views import (
    DayCount,
    SourceCount,
    StorylineDetail,
    StorylinePage,
    StorylineRef,
    StorylineStory,
    StorylineSummary,
)
from cluster.store import Reader, StorylineMember, StorylineRow, StoryRow
from cluster.stories.headlines import story_headline
from cluster.stories.presentation import hotness_at
from cluster.storylines.labels import storyline_label
from cluster.storylines.linking import StoryPoint, started_before
from cluster.types import StoryId, StorylineId

TOP_SOURCES = 5
BACKGROUND = 10
"""Earlier stories of a storyline shown as background to related coverage."""


@dataclass(frozen=True)
class StorylineQuery:
    """A storyline listing request."""

    status: str = "active"
    limit: int = 20
    cursor: str | None = None
    order: str = "hotness"
    since: float | None = None

    def statuses(self) -> tuple[str, ...]:
        if self.status != "all" and self.status not in STATUSES:
            raise InvalidInput("status", f"must be one of {', '.join(STATUSES)} or all")
        if not 1 <= self.limit <= 200:
            raise InvalidInput("limit", "must be between 1 and 200")
        if self.order not in ORDERS:
            raise InvalidInput("order", f"must be one of {', '.join(ORDERS)}")
        return STATUSES if self.status == "all" else (self.status,)


def storyline_stories(reader: Reader, rows: list[StoryRow]) -> list[StorylineStory]:
    """Stories as a storyline lists them, their headlines read in one query."""
    stand_ins = reader.first_members(r.id for r in rows if r.representative is None)
    keys = {r.id: r.representative if r.representative is not None else stand_ins.get(r.id)
            for r in rows}
    articles = reader.articles_by_keys(k for k in keys.values() if k is not None)
    stories = []
    for row in rows:
        key = keys[row.id]
        found = articles.get(key) if key is not None else None
        stories.append(StorylineStory(
            row.id, story_headline(found.title, found.text, found.source) if found else None,
            row.label, row.status, iso(row.first_seen), iso(row.last_updated),
            row.article_count, row.source_count,
            [SourceCount(source, n) for source, n in row.top_sources]))
    return stories


def _summary(reader: Reader, line: StorylineRow, members: list[StorylineMember],
             now: float | None, half_life_hours: float) -> StorylineSummary:
    outlets: Counter[str] = Counter()
    for member in members:
        outlets.update(dict(member.top_sources))
    latest = max(members, key=lambda m: (m.last_updated or 0.0, m.story_id), default=None)
    latest_row = reader.story(latest.story_id) if latest is not None else None
    hotness = line.hotness if now is None else hotness_at(line.hotness, now, half_life_hours)
    return StorylineSummary(
        line.id, storyline_label([m.label for m in members], [m.article_count for m in members]),
        line.status, line.story_count, line.article_count, iso(line.first_seen),
        iso(line.last_updated), round(hotness, 4) if math.isfinite(hotness) else 0.0,
        [SourceCount(s, n) for s, n in sorted(outlets.items(), key=lambda i: (-i[1], i[0]))
         [:TOP_SOURCES]],
        storyline_stories(reader, [latest_row])[0] if latest_row is not None else None)


def storyline_page(reader: Reader, query: StorylineQuery, now: float | None,
                   half_life_hours: float) -> StorylinePage:
    """A page of storylines (two stories or more) in the query's order."""
    statuses = query.statuses()
    after = decode_cursor(query.cursor) if query.cursor else None
    rows = reader.list_storylines(statuses, query.limit + 1, after, order=query.order,
                                  since=query.since)
    shown = rows[:query.limit]
    members = reader.storyline_members([row.id for row in shown])
    items = [_summary(reader, row, members[row.id], now, half_life_hours) for row in shown]
    next_cursor = None
    if len(rows) > query.limit:
        last = rows[query.limit - 1]
        next_cursor = encode_cursor(
            last.hotness if query.order == "hotness" else last.activity, last.id)
    return StorylinePage(items, next_cursor)


def resolve_storyline(reader: Reader, storyline_id: int) -> tuple[StorylineRow,
                                                                   StorylineId | None]:
    """The storyline, or the one that took over its stories (and that one's id)."""
    row, merged_into = follow_merges("storyline", storyline_id, reader.storyline)
    return row, None if merged_into is None else StorylineId(merged_into)


def storyline_detail(reader: Reader, storyline_id: int, now: float | None,
                     half_life_hours: float) -> StorylineDetail:
    """One storyline: its stories in time order and its timeline. A storyline
    of fewer than two stories is not shown as one: 404."""
    row, merged_into = resolve_storyline(reader, storyline_id)
    members = reader.storyline_stories(row.id)
    if len(members) < 2:
        raise NotFound("storyline", storyline_id)
    days: dict[str, Counter[str]] = {}
    for story in members:
        for day in story_timeline(reader, story.id):
            per = days.setdefault(day.day, Counter())
            for source in day.sources:
                per[source.source] += source.articles
    timeline = [DayCount(day, sum(per.values()),
                         [SourceCount(s, n) for s, n in sorted(per.items(),
                                                                 key=lambda i: i[0])])
                for day, per in sorted(days.items())]
    brief = [StorylineMember(m.id, m.label, m.article_count, m.last_updated, m.top_sources)
             for m in members]
    return StorylineDetail(_summary(reader, row, brief, now, half_life_hours),
                           storyline_stories(reader, members), timeline, merged_into)


def storyline_refs(reader: Reader, story_ids: list[StoryId]) -> dict[StoryId, StorylineRef]:
    """The storyline (two stories or more) of each of these stories that has one."""
    lines = {s: n for s, n in reader.story_storylines_of(story_ids).items() if n is not None}
    refs: dict[StorylineId, StorylineRef | None] = {}
    for line, members in reader.storyline_members(sorted(set(lines.values()))).items():
        refs[line] = (StorylineRef(line, storyline_label(
            [m.label for m in members], [m.article_count for m in members]), len(members))
            if len(members) >= 2 else None)
    return {s: ref for s, n in lines.items() if (ref := refs[n]) is not None}


def background(reader: Reader, story_id: StoryId | None) -> tuple[StorylineRef | None,
                                                                   list[StorylineStory]]:
    """The storyline of a story, and its stories that started before it,
    newest first (at most ``BACKGROUND``)."""
    if story_id is None:
        return None, []
    ref = storyline_refs(reader, [story_id]).get(story_id)
    if ref is None:
        return None, []
    members = reader.storyline_stories(ref.id)
    own = next((m for m in members if m.id == story_id), None)
    if own is None:
        return ref, []
    point = _point(own)
    earlier = [m for m in members if m.id != story_id and started_before(_point(m), point)]
    return ref, storyline_stories(reader, earlier[::-1][:BACKGROUND])


def _point(row: StoryRow) -> StoryPoint:
    return StoryPoint(row.id, row.centroid_sum, row.first_seen, row.last_updated)
