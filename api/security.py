"""API keys for writes (and optionally reads), security headers, and CORS
when configured.

Keys are compared in constant time against every configured key; a missing
or wrong key is a 401 that never echoes what was sent. One rule covers every
route:

- writes (POST, PUT, PATCH, DELETE other than the read-only ``/related``)
  need a key whenever keys are configured;
- with ``read_requires_key``, every read needs one too: the JSON API, the
  OpenAPI document and its Swagger UI, and the web pages, for which a
  browser sends the key as the password of HTTP basic authentication (any
  user name; the browser asks for it once);
- ``/metrics`` needs a key when ``metrics_requires_key`` is set, whatever
  the rest;
- ``/healthz``, ``/readyz`` and the pages' stylesheet stay open, for
  orchestrators and the browser's login prompt.
"""

from __future__ import annotations

import hmac

from flask import Flask, Response, request

from api.problems import ApiProblem
from cluster.settings import Settings

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_ONLY_POSTS = frozenset({"/api/v1/related"})
"""POST endpoints that write nothing (a query with a body)."""


OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def presented_key() -> str | None:
    """The key from ``Authorization: Bearer``, ``X-API-Key``, or the password
    of ``Authorization: Basic`` (what a browser sends)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    if header[:6].lower() == "basic ":
        authorization = request.authorization
        return (authorization.password or None) if authorization is not None else None
    return request.headers.get("X-API-Key") or None


def key_is_valid(given: str, keys: tuple[str, ...]) -> bool:
    matched = False
    for key in keys:  # no early exit: time does not tell which key nearly matched
        matched |= hmac.compare_digest(given.encode(), key.encode())
    return matched


def needs_key(settings: Settings) -> bool:
    """Whether this request needs an API key (the rule in the module's docstring)."""
    if not settings.keys or request.method == "OPTIONS":
        return False
    path = request.path
    if path in OPEN_PATHS or path.startswith("/static/"):
        return False
    if path == "/metrics":
        return settings.metrics_requires_key or settings.read_requires_key
    writes = request.method in WRITE_METHODS and path not in READ_ONLY_POSTS
    return writes or settings.read_requires_key


def _is_page() -> bool:
    """Whether a browser reads this route (the pages and the Swagger UI)."""
    return not request.path.startswith("/api/v1/") and request.path != "/metrics"


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
    def _authenticate() -> Response | None:
        if not needs_key(settings):
            return None
        given = presented_key()
        if given is None or not key_is_valid(given, settings.keys):
            if _is_page():  # a browser: ask for the key as a basic-auth password
                return Response(
                    "This service needs an API key: enter it as the password (any user "
                    "name).\n", 401, {"WWW-Authenticate": 'Basic realm="newsclusters", '
                                     'charset="UTF-8"'}, mimetype="text/plain")
            raise ApiProblem(
                401, "Unauthorized",
                "this endpoint needs an API key: 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                slug="unauthorized",
                errors=[{"field": "Authorization", "message": "missing or invalid API key"}],
            )
        return None

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
