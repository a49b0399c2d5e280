"""``newsclusters run`` (a local server with the demo corpus) and
``newsclusters serve`` (production: gunicorn)."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

from cluster.cli.common import Commands, add_command

MAINTENANCE_SECONDS = 60.0
LOG = logging.getLogger("newsclusters")
SERVER_SETTINGS = ("host", "port", "data_dir", "index_dir", "embedder", "clock")


def register(commands: Commands) -> None:
    parser = add_command(
        commands, "run", run_local, "serve locally, with the demo corpus in an empty store",
        """
        Serve the web pages and the JSON API on one process with Flask's own
        server: for trying the service and for development, not for
        production (see `newsclusters serve`). The first time, when the store
        is empty, the demo corpus (41 short articles, 9 events, 15 outlets)
        is imported. On the wall clock, stories are aged once a minute even
        when nothing is ingested. Ctrl-C stops the server after writing an
        index snapshot.
        """, SERVER_SETTINGS)
    parser.add_argument("--no-demo", action="store_true",
                     help="Do not import the demo corpus into an empty store.")
    parser.add_argument("--feeds", type=Path, default=None, metavar="SOURCES.toml",
                     help="Also poll the feeds listed in this sources file, in the "
                          "background of the same process (one writer for the store).")
    add_command(
        commands, "serve", serve_production, "serve in production (gunicorn)",
        """
        Serve the web pages and the JSON API with gunicorn: one process with
        NEWSCLUSTERS_THREADS request threads on NEWSCLUSTERS_HOST and
        NEWSCLUSTERS_PORT (loopback by default). Writes need an API key from
        NEWSCLUSTERS_API_KEYS unless NEWSCLUSTERS_ALLOW_ANONYMOUS_WRITES=true
        says that anyone who can reach the server may write; without either
        the command refuses to start. SIGTERM lets requests in flight finish,
        writes an index snapshot and exits.
        """, (*SERVER_SETTINGS, "threads", "api_keys", "allow_anonymous_writes",
              "read_requires_key"))


def run_local(args: argparse.Namespace) -> int:
    from api import create_app
    from cluster.articles.importer import import_articles, read_files
    from cluster.service import StoryService
    from cluster.settings import load_settings

    settings = load_settings()
    with StoryService(settings) as service:
        if not args.no_demo and service.article_count() == 0:
            with resources.as_file(resources.files("cluster") / "demo" / "demo.jsonl") as demo:
                report = import_articles(service, read_files([demo]))
            service.refresh_presentations()
            service.snapshot()
            print(f"imported the demo corpus: {report.created} articles, "
                  f"{report.new_stories} stories")
        if settings.clock == "wall":
            _start_maintenance(service, MAINTENANCE_SECONDS)
        if args.feeds is not None:
            _start_feeds(service, args.feeds)
        app = create_app(service=service)
        print(f"serving on http://{settings.host}:{settings.port}/ "
              f"(API docs: http://{settings.host}:{settings.port}/api/docs); Ctrl-C stops")
        try:
            app.run(host=settings.host, port=settings.port, threaded=True, use_reloader=False)
        finally:
            service.snapshot()
    return 0


def serve_production(args: argparse.Namespace) -> int:
    from gunicorn.app.wsgiapp import run as gunicorn

    from api.wsgi import check_production_settings
    from cluster.settings import load_settings
    from cluster.store.lock import StoreLock

    settings = load_settings()
    # clear messages here, not a worker's traceback: keys, and the store's one writer
    check_production_settings(settings)
    StoreLock(settings.store_path).release()
    sys.argv = ["newsclusters serve", "-c", "python:api.gunicorn_conf",
                "api.wsgi:production_app()"]
    gunicorn()
    return 0


def _start_maintenance(service: Any, every: float) -> None:
    """On the wall clock, stories age even when nothing is ingested."""

    def loop() -> None:
        while True:
            time.sleep(every)
            try:
                service.maintain()
            except Exception:  # keep serving; the next round retries
                LOG.exception("maintenance failed")

    threading.Thread(target=loop, name="maintenance", daemon=True).start()


def _start_feeds(service: Any, sources: Path) -> None:
    """Poll feeds inside the server process: one writer for the store, and the
    API sees new stories at once."""
    from cluster.feeds.config import load_feed_settings
    from cluster.feeds.poller import FeedPoller
    from cluster.feeds.state import FeedState

    feeds = load_feed_settings(sources)
    state = FeedState(service.settings.data_dir / "feeds.sqlite3")
    poller = FeedPoller(service, feeds, state)
    stop = threading.Event()

    def loop() -> None:
        poller.run_forever(stop, lambda report: print(report.line(), flush=True))

    threading.Thread(target=loop, name="feeds", daemon=True).start()
    print(f"polling {len(feeds.feeds)} feeds from {sources}")
