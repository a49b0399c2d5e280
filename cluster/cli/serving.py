"""``newsclusters run`` (a local server with the demo corpus) and
``newsclusters serve`` (production: waitress, see ``api/serving.py``)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any

from cluster.cli.common import Commands, add_command, readable_file

LOG = logging.getLogger("newsclusters")
SERVER_SETTINGS = ("host", "port", "data_dir", "index_dir", "embedder", "clock", "readers",
                   "reader_poll_ms", "reader_refresh_ms", "writer_nice")


def register(commands: Commands) -> None:
    parser = add_command(
        commands, "run", run_local, "serve locally, with the demo corpus in an empty store",
        """
        Serve the web pages and the JSON API locally, for trying the service
        and for development, as production runs it: one writer process and
        NEWSCLUSTERS_READERS reader processes under a supervisor (with
        NEWSCLUSTERS_READERS=0, one process with Flask's own server). Writes
        need no API key unless NEWSCLUSTERS_API_KEYS is set. The first time,
        when the store is empty, the demo corpus (41 short articles, 9
        events, 15 outlets) is imported. On the wall clock, stories are aged
        once a minute even when nothing is ingested. Ctrl-C stops every
        process, the writer after writing an index snapshot.
        """, SERVER_SETTINGS)
    parser.add_argument("--no-demo", action="store_true",
                     help="Do not import the demo corpus into an empty store.")
    parser.add_argument("--feeds", type=readable_file, default=None, metavar="SOURCES.toml",
                     help="Also poll the feeds listed in this sources file, in the "
                          "writer process (one writer for the store).")
    add_command(
        commands, "serve", serve_production, "serve in production",
        """
        Serve the web pages and the JSON API in production, on
        NEWSCLUSTERS_HOST and NEWSCLUSTERS_PORT (loopback by default): a
        supervisor runs one writer process and NEWSCLUSTERS_READERS reader
        processes that share the port, serve every read and pass writes to
        the writer, and starts again any that dies (NEWSCLUSTERS_READERS=0:
        one process). Each process has NEWSCLUSTERS_THREADS request threads
        behind one I/O thread that reads each request whole, so slow or
        stalled clients never hold a request thread. Writes need an API key
        from NEWSCLUSTERS_API_KEYS unless
        NEWSCLUSTERS_ALLOW_ANONYMOUS_WRITES=true says that anyone who can
        reach the server may write; without either the command refuses to
        start, as it does when another process writes the store. SIGTERM
        or Ctrl-C stops the readers, then the writer, letting requests in
        flight finish; the writer writes an index snapshot.
        """, (*SERVER_SETTINGS, "threads", "connection_limit", "client_timeout_s",
              "api_keys", "allow_anonymous_writes", "read_requires_key",
              "metrics_requires_key"))


def run_local(args: argparse.Namespace) -> int:
    from api import create_app
    from api.observability import FEED_POLLER
    from api.serving import start_maintenance
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
        if settings.readers:
            service.close()  # the writer role opens it again
            return _run_roles(settings, args.feeds)
        if settings.clock == "wall":
            start_maintenance(service)
        app = create_app(service=service)
        # Ctrl-C and SIGTERM stop the server even where the shell that started
        # it in the background had it ignore SIGINT
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _interrupt)
        if args.feeds is not None:  # its health shows in /metrics
            app.extensions[FEED_POLLER] = start_feeds(service, args.feeds)
        print(f"serving on http://{settings.host}:{settings.port}/ "
              f"(API docs: http://{settings.host}:{settings.port}/api/docs); Ctrl-C stops")
        try:
            app.run(host=settings.host, port=settings.port, threaded=True, use_reloader=False)
        finally:
            service.snapshot()
    return 0


def serve_production(args: argparse.Namespace) -> int:
    from api.serving import serve
    from api.wsgi import check_production_settings
    from cluster.settings import load_settings

    settings = load_settings()
    check_production_settings(settings)
    if settings.readers:
        from api.roles.supervisor import supervise

        return supervise(settings)
    serve(settings)
    return 0


def _run_roles(settings: Any, feeds: Path | None) -> int:
    from api.roles.supervisor import Supervisor

    supervisor = Supervisor(settings, feeds)
    if feeds is not None:
        print(f"polling the feeds of {feeds} in the writer process")
    print(f"serving on {supervisor.address} (API docs: {supervisor.address}api/docs): "
          + ("writes queued for the scale-out deployment, "
             if settings.writes == "queue" else "one writer, ")
          + f"{settings.readers} readers; Ctrl-C stops", flush=True)
    return supervisor.run()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def start_feeds(service: Any, sources: Path) -> Any:
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
    return poller
