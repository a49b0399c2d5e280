"""Related-coverage latency and start-up on a store kept by
``scripts/bench.py --scale N --keep DIR`` (third 1 Dec 2026 session):

    .venv/bin/python docs/measurements/related_on_kept_store.py DIR/1000000 [OLD_READING.py]

Passes of 150 random stored articles each; run it twice to see the store
cold (first process after the build) and warm. With OLD_READING.py (e.g.
``git show 53befd9~1:cluster/reading.py > /tmp/old_reading.py``) the passes
alternate between that ``related_items`` and the current one.
"""

from __future__ import annotations

import importlib.util
import random
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cluster.service_reads as service_reads
from cluster.benchmark import percentile
from cluster.reading import RelatedFilters
from cluster.scale_bench import NamedEmbedder
from cluster.service import StoryService
from cluster.settings import load_settings


def main() -> None:
    root = Path(sys.argv[1])
    started = time.perf_counter()
    settings = load_settings({"data_dir": root / "var", "index_dir": root / "indexes",
                              "embedder": "hashing", "presentation_delay_s": 0})
    service = StoryService(settings, NamedEmbedder("synthetic-structure", 384))
    print("start-up s", round(time.perf_counter() - started, 2), service.index.kind)
    db = sqlite3.connect(str(settings.store_path))
    largest = db.execute("SELECT MAX(key) FROM articles").fetchone()[0]
    keys = random.Random(7).sample(range(1, largest + 1), 400)
    ids = [db.execute("SELECT id FROM articles WHERE key = ?", (k,)).fetchone()[0] for k in keys]
    current = service_reads.related_items
    old: Callable[..., object] = current
    if len(sys.argv) > 2:
        spec = importlib.util.spec_from_file_location("old_reading", sys.argv[2])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        old = module.related_items

    def run(label: str, function: Callable[..., object], chosen: list[str]) -> None:
        service_reads.related_items = function  # type: ignore[assignment]
        times = []
        for article_id in chosen:
            t0 = time.perf_counter()
            service.related(article_id, RelatedFilters(k=10))
            times.append((time.perf_counter() - t0) * 1000)
        print(f"{label:<12} p50 {percentile(times, 50):.2f} ms  p99 {percentile(times, 99):.2f} ms")

    run("warm-up", current, ids[:100])
    run("old" if old is not current else "current", old, ids[100:250])
    run("current", current, ids[250:400])
    run("old again" if old is not current else "again", old, ids[250:400])
    run("again", current, ids[100:250])
    service.close()


if __name__ == "__main__":
    main()
