"""gunicorn settings for the production command, ``newsclusters serve``
(README, "Serving in production"); by hand:
``gunicorn -c python:api.gunicorn_conf 'api.wsgi:production_app()'``.

One worker process with threads: the vector index and the clusterer live in
that process's memory, the store has one writer, and every ingest is applied
to the index under the service's lock before it is acknowledged, so readers
on other threads see it at once. More processes would each hold their own
index; scale reads by threads here.
"""

from typing import Any

from cluster.settings import load_settings

_settings = load_settings()

bind = f"{_settings.host}:{_settings.port}"
workers = 1
worker_class = "gthread"
threads = _settings.threads
# An ingest batch embeds up to max_batch texts; give it time before the
# worker is considered stuck.
timeout = 300
# SIGTERM: stop accepting, let in-flight requests (a write holds the store's
# one transaction) finish for up to this long, then exit.
graceful_timeout = 60
keepalive = 5
accesslog = None  # the app logs one JSON line per request itself
errorlog = "-"
loglevel = "info"
raw_env = ["HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "TOKENIZERS_PARALLELISM=false"]


def post_worker_init(worker: Any) -> None:
    import logging

    logging.getLogger("newsclusters.access").setLevel(logging.INFO)
    logging.basicConfig(level=logging.INFO, format="%(message)s")


def worker_exit(server: Any, worker: Any) -> None:
    """Write an index snapshot on a clean exit, so the next start replays little."""
    app = getattr(worker, "wsgi", None)
    service = getattr(app, "extensions", {}).get("story_service") if app else None
    if service is not None:
        service.snapshot()
        service.close()
