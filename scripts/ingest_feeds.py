#!/usr/bin/env python3
"""Poll RSS/Atom/RDF feeds and ingest their articles into the story service.

    python scripts/ingest_feeds.py sources.toml            # one pass over every feed
    python scripts/ingest_feeds.py sources.toml --loop     # keep polling, each feed when due

Per-feed state (validators, last poll, errors, entries seen) lives in
``<data_dir>/feeds.sqlite3``, so a restart neither re-ingests nor re-downloads
unchanged feeds. Ctrl-C stops after the feed being ingested.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts._common import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", type=Path, help="the sources TOML file")
    parser.add_argument("--loop", action="store_true", help="keep polling until stopped")
    parser.add_argument("--workers", type=int, default=4, help="feeds fetched in parallel")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    args = parser.parse_args()

    from cluster.feeds.config import load_feed_settings
    from cluster.feeds.http import FetchPolicy, PoliteClient
    from cluster.feeds.poller import FeedPoller, FeedReport, PassReport
    from cluster.feeds.state import FeedState
    from cluster.service.facade import StoryService
    from cluster.settings import load_settings

    feeds = load_feed_settings(args.sources)
    settings = load_settings()
    service = StoryService(settings).open()
    state = FeedState(settings.data_dir / "feeds.sqlite3")
    client = PoliteClient(FetchPolicy(timeout_s=args.timeout))
    poller = FeedPoller(service, feeds, state, client, workers=args.workers)

    def show(report: FeedReport) -> None:
        print(report.line(), flush=True)

    def summary(report: PassReport) -> None:
        print(report.summary(), flush=True)

    try:
        if args.loop:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            print(f"polling {len(feeds.feeds)} feeds; Ctrl-C or SIGTERM stops", flush=True)
            try:
                poller.run_forever(stop, show, summary)
            except KeyboardInterrupt:
                stop.set()
        else:
            summary(poller.poll_once(progress=show))
    finally:
        service.snapshot()
        service.close()
        state.close()


if __name__ == "__main__":
    run(main)
