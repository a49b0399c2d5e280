"""The production app for any WSGI server (``newsclusters serve`` runs it
with waitress, see ``api/serving.py``):

    waitress-serve --call api.wsgi:production_app

A factory, so importing this module builds nothing. It refuses to start
without API keys for writes unless ``allow_anonymous_writes`` says so.
"""

from __future__ import annotations

from flask import Flask

from cluster.errors import ConfigurationError
from cluster.settings import Settings


def check_production_settings(settings: Settings) -> None:
    """Refuse to serve writes to anyone without saying so."""
    if not settings.keys and not settings.allow_anonymous_writes:
        raise ConfigurationError(
            "the production server needs API keys for writes: set NEWSCLUSTERS_API_KEYS, or "
            "NEWSCLUSTERS_ALLOW_ANONYMOUS_WRITES=true to accept writes from anyone who can "
            "reach it")


def production_app() -> Flask:
    from api import create_app
    from cluster.service import StoryService
    from cluster.settings import load_settings

    settings = load_settings()
    check_production_settings(settings)
    return create_app(service=StoryService(settings).open())
