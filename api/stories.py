"""/api/v1/stories: the listing (or a semantic search), one story, its history."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from api.context import respond, service
from api.openapi import Param, operation
from api.validation import cursor_arg, int_arg, str_arg, time_arg
from cluster.service.view_builders import ORDERS, STATUSES, StoryQuery
from cluster.service.views import StoryDetail, StoryHistory, StoryPage

bp = Blueprint("stories", __name__, url_prefix="/api/v1/stories")

CURSOR = Param("cursor", "query", {"type": "string"}, "next_cursor of the previous page.")
STORY_ID = Param("story_id", "path", {"type": "integer", "format": "int64"}, "The story's id.")


@bp.get("")
@operation(
    "get", "/api/v1/stories", "Stories by hotness or recency, or found by a text query",
    "stories",
    responses={200: ("A page of stories", StoryPage)},
    params=(
        Param("status", "query", {"type": "string", "enum": [*STATUSES, "all"],
                                  "default": "active"}, "Which stories."),
        Param("order", "query", {"type": "string", "enum": list(ORDERS),
                                 "default": "hotness"},
              "hotness: recent growth and source diversity (see the README); "
              "last_updated: newest activity first."),
        Param("since", "query", {"type": "string", "format": "date-time"},
              "Only stories updated at or after this time."),
        Param("min_sources", "query", {"type": "integer", "minimum": 1, "default": 1},
              "Only stories covered by at least this many outlets."),
        Param("q", "query", {"type": "string", "maxLength": 1000},
              "Free text: the joinable stories nearest to it (one page, by match)."),
        Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 200,
                                 "default": 20}, "Page size."),
        CURSOR,
    ),
)
def list_stories() -> ResponseReturnValue:
    text = str_arg("q", None, 1000)
    query = StoryQuery(
        status=str_arg("status", "active", 20) or "active",
        limit=int_arg("limit", 20, 1, 200),
        cursor=cursor_arg(),
        order=str_arg("order", "hotness", 20) or "hotness",
        since=time_arg("since"),
        min_sources=int_arg("min_sources", 1, 1, 10_000),
    )
    if text is not None:
        return respond(service().search_stories(text, query))
    return respond(service().list_stories(query))


@bp.get("/<int(signed=True):story_id>")
@operation(
    "get", "/api/v1/stories/{story_id}",
    "One story: summary, sources, timeline and its articles (paginated)", "stories",
    responses={200: ("The story", StoryDetail)},
    params=(
        STORY_ID,
        Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500,
                                 "default": 50}, "Articles per page."),
        CURSOR,
    ),
)
def get_story(story_id: int) -> ResponseReturnValue:
    limit = int_arg("limit", 50, 1, 500)
    return respond(service().get_story(story_id, limit, cursor_arg()))


@bp.get("/<int(signed=True):story_id>/events")
@operation(
    "get", "/api/v1/stories/{story_id}/events",
    "The story's history: created, grew, merged, split, status_changed (oldest first)", "stories",
    responses={200: ("The story's events", StoryHistory)},
    params=(
        STORY_ID,
        Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000,
                                 "default": 100}, "Events per page."),
        CURSOR,
    ),
)
def story_events(story_id: int) -> ResponseReturnValue:
    limit = int_arg("limit", 100, 1, 1000)
    return respond(service().story_events(story_id, limit, cursor_arg()))
