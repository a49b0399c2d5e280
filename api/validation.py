"""Turning request bodies and query strings into validated values, with
problem+json errors that name the field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from api.problems import ApiProblem, invalid
from cluster.articles.incoming import TextLimits
from cluster.errors import InvalidCursor, InvalidInput
from cluster.settings import Settings

Model = TypeVar("Model", bound=BaseModel)
MAX_JSON_DEPTH = 32
MAX_CURSOR_CHARS = 200
"""Longer than any cursor the service issues (a base64 of two numbers)."""


def field_path(location: tuple[int | str, ...], prefix: str = "") -> str:
    """('articles', 0, 'title') → 'articles[0].title'."""
    path = prefix
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def problem_from_validation(error: ValidationError, prefix: str = "") -> ApiProblem:
    errors = []
    for item in error.errors(include_url=False):
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        errors.append({"field": field_path(tuple(item["loc"]), prefix), "message": message})
    first = errors[0]
    return ApiProblem(422, "Invalid request", f"{first['field']}: {first['message']}",
                      slug="validation-error", errors=errors)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _depth(value: Any, limit: int) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def json_body() -> Any:
    """The request body parsed as strict JSON (no NaN, bounded nesting)."""
    mimetype = request.mimetype
    # No type at all is refused too: a browser may send a body without one
    # cross-site without a CORS preflight, but never one marked JSON.
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiProblem(415, "Unsupported media type",
                         "send the body as application/json", slug="unsupported-media-type",
                         errors=[{"field": "body", "message": "must be application/json"}])
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # a chunked body is cut at the limit as it is read: what was cut off
        # would otherwise go unnoticed
        raise RequestEntityTooLarge()
    if not raw.strip():
        raise invalid("body", "a JSON body is required", status=400)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("body", "is not valid UTF-8", status=400) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise invalid("body", f"nests deeper than {MAX_JSON_DEPTH} levels", status=400) from None
    except ValueError as exc:
        raise invalid("body", f"is not valid JSON ({exc})", status=400) from None
    if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise invalid("body", f"nests deeper than {MAX_JSON_DEPTH} levels", status=400)
    return value


def validate(model: type[Model], data: Any, context: dict[str, Any] | None = None,
             prefix: str = "") -> Model:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise problem_from_validation(exc, prefix) from None


def int_arg(name: str, default: int, low: int, high: int,
            values: Mapping[str, str] | None = None) -> int:
    """A whole number from the query string (or ``values``, e.g. a posted
    form) within [low, high]; absent or blank gives ``default``. The one
    parser of numbers for the API and the pages."""
    raw = (request.args if values is None else values).get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(name, "must be a whole number") from None
    if not low <= value <= high:
        raise InvalidInput(name, f"must be between {low} and {high}")
    return value


def float_arg(name: str, default: float, low: float, high: float) -> float:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise invalid(name, "must be a number") from None
    if not low <= value <= high:  # also refuses nan
        raise invalid(name, f"must be between {low:g} and {high:g}")
    return value


def str_arg(name: str, default: str | None = None, max_length: int = 2000) -> str | None:
    raw = request.args.get(name, default)
    if raw is not None and len(raw) > max_length:
        raise invalid(name, f"must be at most {max_length} characters")
    return raw


def cursor_arg() -> str | None:
    """The ``cursor`` query parameter; one longer than any cursor the service
    issues is refused as a forged one (400), as is any other it cannot read."""
    raw = request.args.get("cursor")
    if raw is not None and len(raw) > MAX_CURSOR_CHARS:
        raise InvalidCursor()
    return raw or None


def time_arg(name: str) -> float | None:
    """An ISO 8601 date or time query parameter as a UTC timestamp (naive = UTC)."""
    from datetime import UTC, datetime

    raw = str_arg(name, None, 64)
    if raw is None or not raw.strip():
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise invalid(name, "must be an ISO 8601 date or date-time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def list_arg(name: str, max_items: int = 100, max_length: int = 200) -> list[str]:
    """A repeatable or comma-separated query parameter."""
    values = [part.strip() for raw in request.args.getlist(name) for part in raw.split(",")]
    values = [v for v in values if v]
    if len(values) > max_items:
        raise invalid(name, f"at most {max_items} values")
    if any(len(v) > max_length for v in values):
        raise invalid(name, f"each value must be at most {max_length} characters")
    return values


def text_limits(settings: Settings) -> dict[str, Any]:
    """The validation context that applies the configured title and text
    limits (``ArticleIn`` and ``RelatedQuery`` read it)."""
    return {"limits": TextLimits.of(settings)}
