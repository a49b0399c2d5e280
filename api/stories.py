"""/api/v1/stories: the story listing and one story with its articles."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from api.context import respond, service
from api.openapi import Param, operation
from api.validation import int_arg, str_arg
from cluster.views import StoryDetail, StoryPage

bp = Blueprint("stories", __name__, url_prefix="/api/v1/stories")

CURSOR = Param("cursor", "query", {"type": "string"}, "next_cursor of the previous page.")


@bp.get("")
@operation(
    "get", "/api/v1/stories", "Stories, newest activity first", "stories",
    responses={200: ("A page of stories", StoryPage)},
    params=(
        Param("status", "query", {"type": "string",
                                  "enum": ["active", "dormant", "archived", "all"],
                                  "default": "active"}, "Which stories."),
        Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 200,
                                 "default": 20}, "Page size."),
        CURSOR,
    ),
)
def list_stories() -> ResponseReturnValue:
    status = str_arg("status", "active", 20) or "active"
    limit = int_arg("limit", 20, 1, 200)
    return respond(service().list_stories(status, limit, str_arg("cursor")))


@bp.get("/<int(signed=True):story_id>")
@operation(
    "get", "/api/v1/stories/{story_id}", "One story with its articles (paginated)", "stories",
    responses={200: ("The story", StoryDetail)},
    params=(
        Param("story_id", "path", {"type": "integer"}, "The story's id."),
        Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500,
                                 "default": 50}, "Articles per page."),
        CURSOR,
    ),
)
def get_story(story_id: int) -> ResponseReturnValue:
    limit = int_arg("limit", 50, 1, 500)
    return respond(service().get_story(story_id, limit, str_arg("cursor")))
