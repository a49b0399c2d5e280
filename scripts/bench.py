#!/usr/bin/env python3
"""Benchmark: ingest articles/s end to end vs embedding alone on the same texts
(same run), and related-coverage latency p50/p99 for stored articles and for
new text. Prints a table; no pass/fail.

    python scripts/bench.py [--file FILE.jsonl] [--limit N] [--json]

Default corpus: ../shared/data/allsides_dev.jsonl when present, else the demo corpus.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts._common import run

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "allsides_dev.jsonl"
DEMO = ROOT / "cluster" / "demo" / "demo.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=SHARED if SHARED.exists() else DEMO)
    parser.add_argument("--limit", type=int, default=0, help="use the first N articles")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from cluster.benchmark import run_benchmark
    from cluster.embedding import create_embedder
    from cluster.importer import read_files
    from cluster.settings import load_settings

    settings = load_settings()
    items = read_files([args.file])
    if args.limit:
        items = items[: args.limit]
    report = run_benchmark(settings, create_embedder(settings), items, args.file.name,
                           queries=args.queries)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
        return
    print(f"corpus: {report.corpus}, {report.articles} articles -> {report.stories} stories "
          f"(embedder {settings.embedder}, model {settings.model})")
    rows = [
        ("embedding only", f"{report.embed_only_per_s} articles/s"),
        ("ingest end to end", f"{report.ingest_per_s} articles/s "
                              f"({report.ingest_vs_embed:.0%} of embedding only)"),
        ("related, stored article", f"p50 {report.related_stored_p50_ms} ms, "
                                    f"p99 {report.related_stored_p99_ms} ms"),
        ("related, new text", f"p50 {report.related_text_p50_ms} ms, "
                              f"p99 {report.related_text_p99_ms} ms"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    run(main)
