"""API keys for writes (and optionally reads), and CORS when configured.

Keys are compared in constant time against every configured key; a missing
or wrong key is a 401 problem that never echoes what was sent. Health,
metrics, the OpenAPI document and the web pages stay open.
"""

from __future__ import annotations

import hmac

from flask import Flask, Response, request

from api.problems import ApiProblem
from cluster.settings import Settings

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_ONLY_POSTS = frozenset({"/api/v1/related"})
"""POST endpoints that write nothing (a query with a body)."""


def presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("X-API-Key") or None


def key_is_valid(given: str, keys: tuple[str, ...]) -> bool:
    matched = False
    for key in keys:  # no early exit: time does not tell which key nearly matched
        matched |= hmac.compare_digest(given.encode(), key.encode())
    return matched


def needs_key(settings: Settings) -> bool:
    if not settings.keys or request.method == "OPTIONS":
        return False
    path = request.path
    if not path.startswith("/api/v1/") or path == "/api/v1/openapi.json":
        return False
    writes = request.method in WRITE_METHODS and path not in READ_ONLY_POSTS
    return writes or settings.read_requires_key


PAGE_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self' data:; "
               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
"""The pages load their one stylesheet from the service and run no script."""
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
               "style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; "
               "frame-ancestors 'none'")
"""Swagger UI (bundled, served by the service) configures itself inline."""
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def _security_headers(response: Response) -> Response:
    """No content sniffing, no framing, and a content policy fitting each kind
    of response."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    path = request.path
    if path.startswith("/api/docs"):
        policy = DOCS_POLICY
    elif path.startswith(("/api/", "/metrics", "/healthz", "/readyz")):
        policy = API_POLICY
    else:
        policy = PAGE_POLICY
    headers.setdefault("Content-Security-Policy", policy)
    return response


def init_app(app: Flask, settings: Settings) -> None:
    app.after_request(_security_headers)

    @app.before_request
    def _authenticate() -> None:
        if not needs_key(settings):
            return
        given = presented_key()
        if given is None or not key_is_valid(given, settings.keys):
            raise ApiProblem(
                401, "Unauthorized",
                "this endpoint needs an API key: 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                slug="unauthorized",
                errors=[{"field": "Authorization", "message": "missing or invalid API key"}],
            )

    origins = settings.origins
    if not origins:
        return

    @app.after_request
    def _cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin and (origin in origins or "*" in origins) and request.path.startswith("/api/"):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = (
                "Authorization, Content-Type, X-API-Key, X-Request-ID")
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
        return response
