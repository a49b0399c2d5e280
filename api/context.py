"""Access to the app's story service from inside a request."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Response, current_app, jsonify

from cluster.service.facade import StoryService
from cluster.settings import Settings

EXTENSION = "story_service"
WRITE_QUEUE = "write_queue"
"""The scale-out ingest queue, where a reader in queue mode sends writes."""


def service() -> StoryService:
    found: StoryService = current_app.extensions[EXTENSION]
    return found


def write_queue() -> Any | None:
    """The ingest queue when this app queues its writes (``writes = "queue"``)."""
    return current_app.extensions.get(WRITE_QUEUE)


def settings() -> Settings:
    return service().settings


def respond(record: Any, status: int = 200) -> Response:
    """A view record (dataclass) or plain dict as a JSON response."""
    body = record if isinstance(record, dict) else asdict(record)
    response = jsonify(body)
    response.status_code = status
    return response
