"""The read side: related coverage and story views built from one consistent
store snapshot (a ``Reader``) and the vector index. Nothing here writes."""

from __future__ import annotations

from datetime import UTC, datetime

from cluster.cursor import decode_cursor, encode_cursor
from cluster.errors import InvalidInput, NotFound
from cluster.index import VectorIndex
from cluster.store import Reader, StoredArticle, StoryRow
from cluster.types import ArticleKey, StoryId, Vector
from cluster.views import (
    ArticleRef,
    RelatedItem,
    SourceCount,
    StoryDetail,
    StoryPage,
    StorySummary,
)

STATUSES = ("active", "dormant", "archived")


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat().replace("+00:00", "Z")


def article_ref(article: StoredArticle) -> ArticleRef:
    return ArticleRef(article.id, article.title, article.source, article.url,
                      iso(article.published_at))


def related_items(
    reader: Reader, index: VectorIndex, vector: Vector, k: int, exclude: int | None,
    story_id: StoryId | None, own_hash: str,
) -> list[RelatedItem]:
    """The k nearest other articles, identical copies folded into the earliest
    stored one (with a count), the query's own copies dropped."""
    fetch = min(max(3 * k + 10, 30), max(len(index), 1))  # over-fetch for folded copies
    scores, keys = index.search(vector.reshape(1, -1), fetch)
    found = [(int(key), float(s)) for key, s in zip(keys[0], scores[0], strict=True)
             if key >= 0 and key != exclude]
    # Equal scores (copies) in key order, so the earliest stored copy leads.
    found.sort(key=lambda pair: (-round(pair[1], 6), pair[0]))
    articles = reader.articles_by_keys(key for key, _ in found)
    kept: list[tuple[StoredArticle, float]] = []
    copies: dict[str, int] = {}
    for key, score in found:
        article = articles.get(ArticleKey(key))
        if article is None or article.embed_hash == own_hash:
            continue
        if article.embed_hash in copies:
            copies[article.embed_hash] += 1
        elif len(kept) < k:
            copies[article.embed_hash] = 0
            kept.append((article, score))
    return [
        RelatedItem(article_ref(article), round(score, 4), article.story_id,
                    story_id is not None and article.story_id == story_id,
                    copies[article.embed_hash])
        for article, score in kept
    ]


def story_summaries(reader: Reader, rows: list[StoryRow]) -> list[StorySummary]:
    """Summaries of several stories, their representatives read in one query."""
    keys = [row.representative for row in rows if row.representative is not None]
    representatives = reader.articles_by_keys(keys)
    summaries = []
    for row in rows:
        found = (representatives.get(row.representative)
                 if row.representative is not None else None)
        summaries.append(StorySummary(
            row.id, row.label, row.status, article_ref(found) if found is not None else None,
            row.article_count, row.source_count, iso(row.first_seen), iso(row.last_updated),
        ))
    return summaries


def story_page(reader: Reader, status: str, limit: int, cursor: str | None) -> StoryPage:
    """Stories with the given status (or all), newest activity first."""
    if status != "all" and status not in STATUSES:
        raise InvalidInput("status", f"must be one of {', '.join(STATUSES)} or all")
    if not 1 <= limit <= 200:
        raise InvalidInput("limit", "must be between 1 and 200")
    statuses = STATUSES if status == "all" else (status,)
    after = decode_cursor(cursor) if cursor else None
    rows = reader.list_stories(statuses, limit + 1, after)
    items = story_summaries(reader, rows[:limit])
    next_cursor = (encode_cursor(rows[limit - 1].activity, rows[limit - 1].id)
                   if len(rows) > limit else None)
    return StoryPage(items, next_cursor)


def story_detail(reader: Reader, story_id: int, limit: int, cursor: str | None) -> StoryDetail:
    """One story with a page of its articles; an absorbed story answers with
    the story that absorbed it and says so in ``merged_into``."""
    if not 1 <= limit <= 500:
        raise InvalidInput("limit", "must be between 1 and 500")
    after = decode_cursor(cursor) if cursor else None
    row = reader.story(story_id)
    if row is None:
        raise NotFound("story", story_id)
    merged_into: StoryId | None = None
    while row.status == "merged" and row.merged_into is not None:
        target = reader.story(row.merged_into)
        if target is None:
            raise NotFound("story", story_id)
        merged_into, row = target.id, target
    members = reader.story_articles(row.id, limit + 1, after)
    sources = [SourceCount(s, n) for s, n in reader.story_sources(row.id)]
    page = members[:limit]
    next_cursor = None
    if len(members) > limit:
        last = page[-1]
        next_cursor = encode_cursor(last.published_at or 0.0, int(last.key))
    return StoryDetail(story_summaries(reader, [row])[0], sources, [article_ref(a) for a in page],
                       next_cursor, merged_into)
