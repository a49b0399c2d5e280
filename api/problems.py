"""One error shape for every failure: RFC 9457 ``application/problem+json``.

Every body has ``type``, ``title``, ``status``, ``detail`` and ``instance``;
validation failures add ``field`` (the first offending field) and ``errors``
(all of them, each with ``field`` and ``message``). Nothing else is ever
returned for a 4xx or 5xx, and no stack trace or internal message leaks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from cluster.errors import (
    BatchTooLarge,
    ClusterError,
    IndexMismatch,
    InvalidCursor,
    InvalidInput,
    NotFound,
    StoreUnavailable,
)

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("api")


class ApiProblem(Exception):
    """Raised by views to answer with a problem document."""

    def __init__(
        self, status: int, title: str, detail: str, *, slug: str | None = None,
        errors: Sequence[dict[str, str]] = (),
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.slug = slug
        self.errors = list(errors)


def invalid(field: str, message: str, status: int = 422) -> ApiProblem:
    return ApiProblem(status, "Invalid request", f"{field}: {message}", slug="validation-error",
                      errors=[{"field": field, "message": message}])


def problem_response(
    status: int, title: str, detail: str, slug: str | None = None,
    errors: Sequence[dict[str, str]] = (),
) -> Response:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if errors:
        body["field"] = errors[0]["field"]
        body["errors"] = list(errors)
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)


def _from_problem(error: ApiProblem) -> Response:
    response = problem_response(error.status, error.title, error.detail, error.slug,
                                error.errors)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="newsclusters"'
    return response


def _from_cluster_error(error: ClusterError) -> Response:
    if isinstance(error, BatchTooLarge):
        return _from_problem(invalid(error.field, error.message, status=413))
    if isinstance(error, InvalidCursor):
        return _from_problem(invalid(error.field, error.message, status=400))
    if isinstance(error, InvalidInput):
        return _from_problem(invalid(error.field, error.message))
    if isinstance(error, NotFound):
        return problem_response(404, "Not found", str(error), "not-found",
                                [{"field": "id", "message": str(error)}])
    if isinstance(error, IndexMismatch):
        return problem_response(503, "Index unavailable", str(error), "index-mismatch")
    if isinstance(error, StoreUnavailable):
        answer = problem_response(503, "Store unavailable", f"{error}; retry",
                                  "store-unavailable")
        answer.headers["Retry-After"] = "5"
        return answer
    log.exception("unhandled library error")
    return problem_response(500, "Internal error", "the server could not complete the request")


def _from_http(error: HTTPException) -> Response:
    status = error.code or 500
    if isinstance(error, RequestEntityTooLarge):
        return problem_response(413, "Request too large",
                                "the request body exceeds max_body_bytes", "too-large",
                                [{"field": "body", "message": "too large"}])
    detail = error.description or error.name
    if status == 404:
        detail = f"no resource at {request.path}"
    return problem_response(status, error.name, detail)


def _from_anything(error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem_response(500, "Internal error", "the server could not complete the request")


def init_app(app: Flask) -> None:
    app.register_error_handler(ApiProblem, _from_problem)
    app.register_error_handler(ClusterError, _from_cluster_error)
    app.register_error_handler(HTTPException, _from_http)
    app.register_error_handler(Exception, _from_anything)
