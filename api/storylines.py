"""/api/v1/storylines: the developments that stories belong to, and one of them."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from api.context import respond, service
from api.openapi import Param, operation
from api.validation import cursor_arg, int_arg, str_arg, time_arg
from cluster.service.storyline_views import StorylineQuery
from cluster.service.view_builders import ORDERS, STATUSES
from cluster.service.views import StorylineDetail, StorylinePage

bp = Blueprint("storylines", __name__, url_prefix="/api/v1/storylines")


@bp.get("")
@operation(
    "get", "/api/v1/storylines",
    "Storylines (two stories or more of one development), hottest or latest first",
    "storylines",
    responses={200: ("A page of storylines", StorylinePage)},
    params=(
        Param("status", "query", {"type": "string", "enum": [*STATUSES, "all"],
                                  "default": "active"},
              "Which storylines, by their liveliest story's status."),
        Param("order", "query", {"type": "string", "enum": list(ORDERS),
                                 "default": "hotness"},
              "hotness: its hottest story's hotness; last_updated: newest activity first."),
        Param("since", "query", {"type": "string", "format": "date-time"},
              "Only storylines updated at or after this time."),
        Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 200,
                                 "default": 20}, "Page size."),
        Param("cursor", "query", {"type": "string"}, "next_cursor of the previous page."),
    ),
)
def list_storylines() -> ResponseReturnValue:
    query = StorylineQuery(
        status=str_arg("status", "active", 20) or "active",
        limit=int_arg("limit", 20, 1, 200),
        cursor=cursor_arg(),
        order=str_arg("order", "hotness", 20) or "hotness",
        since=time_arg("since"),
    )
    return respond(service().list_storylines(query))


@bp.get("/<int(signed=True):storyline_id>")
@operation(
    "get", "/api/v1/storylines/{storyline_id}",
    "One storyline: its stories in time order, with headline, dates, sources and size, "
    "and a timeline", "storylines",
    responses={200: ("The storyline", StorylineDetail)},
    params=(Param("storyline_id", "path", {"type": "integer", "format": "int64"},
                  "The storyline's id (one that was merged answers with the storyline "
                  "that took its stories, named in merged_into)."),),
)
def get_storyline(storyline_id: int) -> ResponseReturnValue:
    return respond(service().get_storyline(storyline_id))
