"""How long after a write is acknowledged a reader process's index has it:
a writer service ingests batches while a reader service (its own process,
as in ``newsclusters serve``) follows the store; for each batch, the time
from the writer's acknowledgement until the reader has caught up to the
write's store sequence, observed from outside through the reader's own
follower (no forced catch-up).

    python -m benchmarks.reader_lag [--batches 200] [--rate 10] [--size 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def _settings(folder: Path) -> Any:
    from cluster.settings import load_settings

    return load_settings({"data_dir": folder / "var", "index_dir": folder / "idx",
                          "embedder": "hashing", "presentation_delay_s": 0.0}, environ={})


def _follow(folder: str, reached: Any, stop: Any) -> None:
    """The reader: report each sequence its follower reaches, as it reaches it."""
    from cluster.service import StoryService

    reader = StoryService.reader(_settings(Path(folder))).open()
    try:
        last = -1
        while not stop.is_set():
            seq = reader.caught_up_seq()
            if seq != last:
                reached.put((seq, time.time()))
                last = seq
            time.sleep(0.002)
    finally:
        reader.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="batches per second")
    parser.add_argument("--size", type=int, default=5, help="articles per batch")
    args = parser.parse_args()
    from cluster.articles.incoming import Article
    from cluster.service import StoryService

    with tempfile.TemporaryDirectory(prefix="newsclusters-lag-") as folder:
        writer = StoryService(_settings(Path(folder))).open()
        writer.ingest([Article("seed", "Seed article", "", "Wire", None,
                               datetime(2026, 11, 1, tzinfo=UTC), "en")])
        context = multiprocessing.get_context("spawn")
        reached, stop = context.Queue(), context.Event()
        follower = context.Process(target=_follow, args=(folder, reached, stop))
        follower.start()
        time.sleep(3.0)  # the reader opens and loads
        acked: list[tuple[int, float]] = []
        start = datetime(2026, 11, 1, tzinfo=UTC)
        for batch in range(args.batches):
            articles = [Article(f"b{batch}-{n}", f"Harbour storm report {batch} {n}",
                                f"Update {batch} on the storm.", f"Outlet {n}", None,
                                start + timedelta(minutes=batch), "en")
                        for n in range(args.size)]
            writer.ingest(articles)
            acked.append((writer.store_seq(), time.time()))
            time.sleep(1.0 / args.rate)
        time.sleep(2.0)
        stop.set()
        seen: list[tuple[int, float]] = []
        while not reached.empty():
            seen.append(reached.get())
        follower.join(10)
        writer.close()
    delays = []
    for seq, at in acked:
        first = min((t for s, t in seen if s >= seq), default=None)
        delays.append(float("inf") if first is None else max(0.0, first - at))
    ordered = sorted(delays)

    def pick(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] * 1000, 1)

    print(json.dumps({"batches": args.batches, "size": args.size, "rate_per_s": args.rate,
                      "lag_p50_ms": pick(0.5), "lag_p99_ms": pick(0.99),
                      "lag_max_ms": round(ordered[-1] * 1000, 1)}))


if __name__ == "__main__":
    main()
