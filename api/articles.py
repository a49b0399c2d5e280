"""/api/v1/articles: ingest, read, delete, related coverage of a stored article."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue

from api.context import respond, service, settings, write_queue
from api.observability import SEQ_HEADER, metrics
from api.openapi import Param, operation
from api.problems import ApiProblem, invalid
from api.schemas import ArticleBatch, IngestBatchResult, QueuedBatch
from api.validation import (
    float_arg,
    int_arg,
    json_body,
    list_arg,
    text_limits,
    time_arg,
    validate,
)
from cluster.articles.incoming import (
    ARTICLE_ID_PATTERN,
    ArticleIn,
    is_valid_article_id,
    to_article,
)
from cluster.service.view_builders import RelatedFilters
from cluster.service.views import ArticleView, IngestResult, RelatedResult

bp = Blueprint("articles", __name__, url_prefix="/api/v1/articles")

ID_PARAM = Param("article_id", "path", {"type": "string", "pattern": ARTICLE_ID_PATTERN},
                 "The article's id.")


def _checked_id(article_id: str) -> str:
    if not is_valid_article_id(article_id):
        raise invalid("id", "is not a valid article id (letters, digits and ._:~@- only)")
    return article_id


@contextmanager
def _queueing() -> Iterator[None]:
    """A queue whose store cannot be reached is a 503: nothing was queued."""
    from cluster.scaleout.queue import QueueUnavailable

    try:
        yield
    except QueueUnavailable as error:
        raise ApiProblem(503, "Store unavailable", f"{error}; nothing was queued: retry",
                         slug="store-unavailable",
                         errors=[{"field": "request", "message": "store unavailable"}]
                         ) from None


@bp.post("")
@operation(
    "post", "/api/v1/articles", "Ingest one article or a batch (all or nothing)", "articles",
    request=ArticleIn | ArticleBatch,
    responses={200: ("Nothing new (all unchanged)", IngestResult | IngestBatchResult),
               201: ("Stored and assigned to stories", IngestResult | IngestBatchResult),
               202: ("Queued (the scale-out deployment, writes = queue)", QueuedBatch)},
)
def post_articles() -> ResponseReturnValue:
    body: Any = json_body()
    current = settings()
    context = text_limits(current)
    single = isinstance(body, dict) and "articles" not in body
    if isinstance(body, list):
        body = {"articles": body}
    if not isinstance(body, dict):
        raise invalid("body", "must be an article object or {\"articles\": [...]}")
    if not single:
        articles = body.get("articles")
        if isinstance(articles, list) and len(articles) > current.max_batch:
            raise invalid("articles", f"a batch holds at most {current.max_batch} articles, "
                          f"got {len(articles)}", status=413)
        incoming = validate(ArticleBatch, body, context).articles
    else:
        incoming = [validate(ArticleIn, body, context)]
    received = datetime.now(UTC)
    queue = write_queue()
    if queue is not None:
        queued = [to_article(item, received) for item in incoming]
        with _queueing():
            positions = queue.enqueue(queued)
        metrics().count_ingest(["queued"] * len(queued))
        return respond(QueuedBatch([a.id for a in queued], positions), 202)
    results = service().ingest([to_article(item, received) for item in incoming])
    metrics().count_ingest([r.status for r in results])
    status = 201 if any(r.status != "unchanged" for r in results) else 200
    response = respond(results[0] if single else IngestBatchResult(results), status)
    # what a reader must have caught up to for this write to show in searches
    response.headers[SEQ_HEADER] = str(service().store_seq())
    return response


@bp.get("/<path:article_id>")
@operation("get", "/api/v1/articles/{article_id}", "One stored article", "articles",
           responses={200: ("The article", ArticleView)}, params=(ID_PARAM,))
def get_article(article_id: str) -> ResponseReturnValue:
    return respond(service().get_article(_checked_id(article_id)))


@bp.delete("/<path:article_id>")
@operation("delete", "/api/v1/articles/{article_id}",
           "Remove an article from the store, the index and its story", "articles",
           responses={204: ("Deleted", None),
                      202: ("Deletion queued (the scale-out deployment, writes = queue)",
                            QueuedBatch)}, params=(ID_PARAM,))
def delete_article(article_id: str) -> ResponseReturnValue:
    queue = write_queue()
    if queue is not None:
        checked = _checked_id(article_id)
        with _queueing():
            position = queue.enqueue_deletion(checked)
        return respond(QueuedBatch([checked], [position]), 202)
    service().delete_article(_checked_id(article_id))
    return "", 204, {SEQ_HEADER: str(service().store_seq())}


RELATED_PARAMS = (
    Param("k", "query", {"type": "integer", "minimum": 1, "default": 10}, "How many results."),
    Param("per_source", "query", {"type": "integer", "minimum": 0, "default": 1},
          "Results per outlet (0: no limit)."),
    Param("since", "query", {"type": "string", "format": "date-time"},
          "Only coverage published at or after this time (ISO 8601; naive = UTC)."),
    Param("until", "query", {"type": "string", "format": "date-time"},
          "Only coverage published at or before this time."),
    Param("exclude_sources", "query", {"type": "array", "items": {"type": "string"}},
          "Outlets to leave out (repeat or separate with commas)."),
    Param("min_score", "query", {"type": "number", "minimum": -1, "maximum": 1, "default": -1},
          "Leave out other stories' coverage less similar than this."),
)


def related_filters() -> RelatedFilters:
    limit = settings().max_k
    return RelatedFilters(
        int_arg("k", 10, 1, limit), int_arg("per_source", 1, 0, limit),
        time_arg("since"), time_arg("until"),
        frozenset(s.lower() for s in list_arg("exclude_sources")),
        float_arg("min_score", -1.0, -1.0, 1.0),
    )


@bp.get("/<path:article_id>/related")
@operation(
    "get", "/api/v1/articles/{article_id}/related",
    "Other coverage of a stored article: its story first (one per outlet), then "
    "neighbouring stories; copies folded", "related",
    responses={200: ("Related coverage, best first", RelatedResult)},
    params=(ID_PARAM, *RELATED_PARAMS),
)
def related_to_article(article_id: str) -> ResponseReturnValue:
    filters = related_filters()
    return respond(service().related(_checked_id(article_id), filters))
