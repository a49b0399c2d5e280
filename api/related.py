"""/api/v1/related: coverage of an article that is not stored (nothing is written)."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from api.context import respond, service
from api.openapi import operation
from api.schemas import RelatedQuery
from api.validation import json_body, text_limits, validate
from cluster.service.views import RelatedResult

bp = Blueprint("related", __name__, url_prefix="/api/v1/related")


@bp.post("")
@operation("post", "/api/v1/related",
           "Related coverage for new text, and the story it would join", "related",
           request=RelatedQuery, responses={200: ("Related coverage", RelatedResult)})
def related_to_text() -> ResponseReturnValue:
    query = validate(RelatedQuery, json_body(), text_limits(service().settings))
    # title and k limits are checked by the service, as for every other caller
    when = query.published_at.timestamp() if query.published_at else None
    return respond(service().related_to_text(query.title, query.text, query.filters(), when))
