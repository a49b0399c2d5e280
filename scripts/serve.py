#!/usr/bin/env python3
"""Run the service: ingest the demo corpus into an empty store, then serve the
API on 127.0.0.1 (settings: NEWSCLUSTERS_HOST / NEWSCLUSTERS_PORT).

    python scripts/serve.py [--no-demo]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-demo", action="store_true",
                        help="do not import the demo corpus into an empty store")
    args = parser.parse_args()

    from api import create_app
    from cluster.importer import import_articles, read_files
    from cluster.service import StoryService
    from cluster.settings import load_settings

    settings = load_settings()
    service = StoryService(settings)
    if not args.no_demo and service.article_count() == 0:
        report = import_articles(service, read_files([DEMO]))
        service.snapshot()
        print(f"imported the demo corpus: {report.created} articles, "
              f"{report.new_stories} stories")
    if settings.clock == "wall":
        start_maintenance(service, MAINTENANCE_SECONDS)
    app = create_app(service=service)
    print(f"serving on http://{settings.host}:{settings.port}/ "
          f"(API docs: http://{settings.host}:{settings.port}/api/docs)")
    try:
        app.run(host=settings.host, port=settings.port, threaded=True, use_reloader=False)
    finally:
        service.snapshot()
        service.store.close()


if __name__ == "__main__":
    run(main)
