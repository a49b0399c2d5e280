"""The Flask app: ``create_app(settings)`` builds it; importing does nothing."""

from __future__ import annotations

from typing import Any

from flask import Flask

from api.encoding import HtmlSafeJSONProvider
from cluster.service.facade import StoryService
from cluster.settings import Settings, load_settings


class NewsApp(Flask):
    json_provider_class = HtmlSafeJSONProvider


def create_app(settings: Settings | None = None, service: StoryService | None = None, *,
               role: str = "all", writer_url: str | None = None,
               write_queue: Any | None = None) -> Flask:
    """Build the app around a story service (opened from ``settings`` if not given).

    ``role`` is "all" (one process serves everything), "writer" (the writer
    process, behind the readers) or "reader" (serves reads from a reader's
    service and passes every write to the writer at ``writer_url``, or with
    ``write_queue`` queues it for the scale-out deployment's writer)."""
    from api import (
        articles,
        health,
        observability,
        openapi,
        pages,
        problems,
        related,
        security,
        stories,
        storylines,
    )
    from api.context import EXTENSION, WRITE_QUEUE

    if service is None:
        service = StoryService(settings or load_settings()).open()
    app = NewsApp(__name__)
    app.config["MAX_CONTENT_LENGTH"] = service.settings.max_body_bytes
    app.extensions[EXTENSION] = service
    app.config["ROLE"] = role
    problems.init_app(app)
    observability.init_app(app, role)
    security.init_app(app, service.settings)
    if write_queue is not None:
        app.extensions[WRITE_QUEUE] = write_queue
    if writer_url is not None or write_queue is not None:
        # after the key checks: a refused write never travels
        from api.roles.forwarding import init_forwarding

        init_forwarding(app, writer_url)
    openapi.init_app(app)
    for blueprint in (articles.bp, related.bp, stories.bp, storylines.bp, health.bp,
                      pages.bp):
        app.register_blueprint(blueprint)
    return app


__all__ = ["create_app"]
