"""The web pages for people: active stories and storylines, one story, one
storyline, related coverage.

Server-rendered Jinja (autoescaped: every text from the data is escaped), one
small stylesheet, no JavaScript needed to read anything, nothing loaded from
outside the service. The pages call the same service as the JSON API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from api.context import service
from api.validation import int_arg
from cluster.articles.incoming import parse_timestamp
from cluster.errors import ClusterError, InvalidCursor, InvalidInput, NotFound
from cluster.service.storyline_views import StorylineQuery
from cluster.service.view_builders import STATUSES, RelatedFilters, StoryQuery, iso
from cluster.service.views import (
    ArticleRef,
    DayCount,
    StoryHistory,
    StorylineDetail,
    StorylinePage,
    StoryPage,
)

MIN_DAYS_SHOWN = 7
"""Day slots a timeline has at least (a one-day story's bar is a seventh wide)."""
RELATED_STORY_FLOOR = 0.45
"""Centroid similarity under which a nearby story is not shown as related:
other events of the same week score 0.2-0.3 with the default model."""

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")

MAX_DAYS = 60
HOME_STORYLINES = 5
"""Active storylines shown above the stories on the home page."""
PAGE_MIN_SCORE = 0.35
"""Other stories' coverage below this similarity is noise to a reader."""


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: str
    articles: int


def timeline_bars(days: Sequence[DayCount], width: float, height: float) -> list[Bar]:
    """Bars of articles per day, empty days included, at most the last 60 days."""
    if not days:
        return []
    counts = {d.day: d.articles for d in days}
    first = date.fromisoformat(days[0].day)
    last = date.fromisoformat(days[-1].day)
    span = min((last - first).days + 1, MAX_DAYS)
    start = last - timedelta(days=span - 1)
    peak = max(counts.values())
    # a week's scale at least: a story of one or two days is a bar or two,
    # not a block across the whole chart
    slot = width / max(span, MIN_DAYS_SHOWN)
    bars = []
    for offset in range(span):
        day = (start + timedelta(days=offset)).isoformat()
        n = counts.get(day, 0)
        bar_height = 0.0 if n == 0 else max(2.0, height * n / peak)
        bars.append(Bar(round(offset * slot + slot * 0.1, 2), round(height - bar_height, 2),
                        round(slot * 0.8, 2), round(bar_height, 2), day, n))
    return bars


@bp.get("/")
def index() -> ResponseReturnValue:
    status = request.args.get("status", "active") or "active"
    q = (request.args.get("q") or "").strip()
    error, status_code = None, 200
    page = StoryPage([], None)
    try:
        query = StoryQuery(status=status, limit=20, cursor=request.args.get("cursor") or None,
                           min_sources=int_arg("min_sources", 1, 1, 1000, request.values),
                           order=request.args.get("order", "hotness") or "hotness")
        page = service().search_stories(q, query) if q else service().list_stories(query)
    except InvalidCursor as exc:
        error, status_code = str(exc), 400
    except ClusterError as exc:
        error, status_code = str(exc), 422
    timelines = service().story_timelines([s.id for s in page.items])
    bars = {sid: timeline_bars(days, 120, 24) for sid, days in timelines.items()}
    arguments = {k: v for k, v in request.args.items() if k != "cursor" and v}
    # the developments in the news, above the first page of active stories
    storylines = (service().list_storylines(StorylineQuery(limit=HOME_STORYLINES))
                  if status == "active" and not q and not request.args.get("cursor")
                  and error is None else StorylinePage([], None))
    return render_template("index.html", page=page, bars=bars, status=status, q=q,
                           statuses=(*STATUSES, "all"), args=request.args, error=error,
                           storylines=storylines.items,
                           next_args={**arguments, "cursor": page.next_cursor}), status_code


@bp.get("/stories/<int:story_id>")
def story(story_id: int) -> ResponseReturnValue:
    try:
        detail = service().get_story(story_id, limit=500)
        history = service().story_events(detail.story.id, limit=200)
    except NotFound:
        return render_template("error.html", title="Story not found",
                               message=f"There is no story {story_id}."), 404
    by_source: dict[str, list[ArticleRef]] = {}
    for article in detail.articles:
        by_source.setdefault(article.source, []).append(article)
    articles = {a.id: a for a in detail.articles}
    related = [r for r in service().related_stories(detail.story.id)
               if r.match is not None and r.match >= RELATED_STORY_FLOOR]
    storyline: StorylineDetail | None = None
    if detail.story.storyline_id is not None:
        try:
            storyline = service().get_storyline(detail.story.storyline_id)
        except NotFound:  # its other stories went elsewhere since the story was read
            storyline = None
    shown = {s.id for s in storyline.stories} if storyline is not None else set()
    related = [r for r in related if r.id not in shown]
    return render_template("story.html", detail=detail, story=detail.story,
                           by_source=sorted(by_source.items(), key=lambda kv: (-len(kv[1]),
                                                                               kv[0])),
                           articles=articles, history=history_lines(history, articles),
                           related=related, bars=timeline_bars(detail.timeline, 600, 90),
                           requested=story_id, storyline=storyline)


@bp.get("/storylines/<int:storyline_id>")
def storyline(storyline_id: int) -> ResponseReturnValue:
    try:
        detail = service().get_storyline(storyline_id)
    except NotFound:
        return render_template("error.html", title="Storyline not found",
                               message=f"There is no storyline {storyline_id}."), 404
    return render_template("storyline.html", detail=detail, line=detail.storyline,
                           bars=timeline_bars(detail.timeline, 600, 90),
                           requested=storyline_id)


@dataclass(frozen=True)
class HistoryLine:
    """One event of a story's history as a reader sees it: the article by its
    title and outlet, not its id."""

    at: str | None
    kind: str
    title: str | None
    source: str | None
    article_id: str | None
    other_story_id: int | None


def history_lines(history: StoryHistory, members: dict[str, ArticleRef]) -> list[HistoryLine]:
    """The events in time order (events without a time last), each article
    named by title and outlet; an article no longer stored says so."""
    lines = []
    for event in history.events:
        title = source = None
        if event.article_id:
            member = members.get(event.article_id)
            if member is not None:
                title, source = member.title, member.source
            else:
                try:
                    stored = service().get_article(event.article_id)
                    title, source = stored.title, stored.source
                except NotFound:
                    title = f"{event.article_id} (since deleted)"
        lines.append(HistoryLine(event.at, event.kind, title, source, event.article_id,
                                 event.other_story_id))
    return sorted(lines, key=lambda line: (line.at is None, line.at or ""))


@bp.route("/related", methods=["GET", "POST"])
def related() -> ResponseReturnValue:
    """GET for links (``?article_id=``), POST for the form: a pasted article can be
    longer than a URL may be. Either way nothing is stored."""
    values = request.values
    title = (values.get("title") or "").strip()
    text = (values.get("text") or "").strip()
    article_id = (values.get("article_id") or "").strip()
    published = (values.get("published") or "").strip()
    clock = service().clock()
    result, joined, error, status = None, None, None, 200
    assumed = clock
    if title or article_id or "submitted" in values:
        try:
            filters = RelatedFilters(k=int_arg("k", 10, 1, service().settings.max_k,
                                                   values),
                                     per_source=int_arg("per_source", 1, 0, 100, values),
                                     min_score=PAGE_MIN_SCORE)
            if article_id:
                result = service().related(article_id, filters)
            else:
                if len(title) > service().settings.max_title_chars:
                    raise InvalidInput("title", "is too long")
                if published:
                    try:
                        assumed = parse_timestamp(published).timestamp()
                    except (ValueError, OverflowError):
                        raise InvalidInput("published", "must be a date and time, e.g. "
                                           "2026-11-23T15:00") from None
                # the same rule and clock as ingest: the guess is where it would go
                result = service().related_to_text(
                    title, text[:service().settings.max_text_chars], filters, assumed)
            story_id = result.story_id
            if story_id is not None:
                joined = service().get_story(story_id, limit=1).story
        except NotFound as exc:
            error, status = str(exc), 404
        except ClusterError as exc:
            error, status = str(exc), 422
    return render_template(
        "related.html", title=title, text=text, article_id=article_id, published=published,
        assumed=iso(assumed), live=service().settings.clock == "wall", result=result,
        joined=joined, error=error), status
