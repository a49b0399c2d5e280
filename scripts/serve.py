#!/usr/bin/env python3
"""Run the service: ingest the demo corpus into an empty store, then serve the
API on 127.0.0.1 (settings: NEWSCLUSTERS_HOST / NEWSCLUSTERS_PORT).

    python scripts/serve.py [--no-demo] [--feeds sources.toml]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts._common import run

DEMO = Path(__file__).resolve().parent.parent / "cluster" / "demo" / "demo.jsonl"
MAINTENANCE_SECONDS = 60.0


def start_maintenance(service: Any, every: float) -> None:
    """On the wall clock, stories age even when nothing is ingested."""

    def loop() -> None:
        while True:
            time.sleep(every)
            try:
                service.maintain()
            except Exception as exc:  # keep serving; the next round retries
                print(f"maintenance failed: {exc}", file=sys.stderr)

    threading.Thread(target=loop, name="maintenance", daemon=True).start()


def start_feeds(service: Any, sources: Path) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-demo", action="store_true",
                        help="do not import the demo corpus into an empty store")
    parser.add_argument("--feeds", type=Path, default=None,
                        help="a sources TOML file: poll those feeds in the background")
    args = parser.parse_args()

    from api import create_app
    from cluster.articles.importer import import_articles, read_files
    from cluster.service.facade import StoryService
    from cluster.settings import load_settings

    settings = load_settings()
    service = StoryService(settings).open()
    if not args.no_demo and service.article_count() == 0:
        report = import_articles(service, read_files([DEMO]))
        service.refresh_presentations()
        service.snapshot()
        print(f"imported the demo corpus: {report.created} articles, "
              f"{report.new_stories} stories")
    if settings.clock == "wall":
        start_maintenance(service, MAINTENANCE_SECONDS)
    if args.feeds is not None:
        start_feeds(service, args.feeds)
    app = create_app(service=service)
    print(f"serving on http://{settings.host}:{settings.port}/ "
          f"(API docs: http://{settings.host}:{settings.port}/api/docs)")
    try:
        app.run(host=settings.host, port=settings.port, threaded=True, use_reloader=False)
    finally:
        service.snapshot()
        service.close()


if __name__ == "__main__":
    run(main)
