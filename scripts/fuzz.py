#!/usr/bin/env python3
"""Fuzz the API against its own OpenAPI document (schemathesis + Hypothesis):
generated valid and invalid requests for every operation, in process, on the
demo corpus in a scratch store; reports examples, statuses, 5xx and schema
violations.

    python -m scripts.fuzz [--examples 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a file, the checkout's packages are not importable
    raise SystemExit("run from the repository root: python -m scripts.fuzz [OPTIONS]")

from scripts._common import run

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=300, help="per operation")
    parser.add_argument("--seed", type=int, default=0,
                        help="the random seed, for a repeatable run (default 0)")
    args = parser.parse_args()

    from api import create_app
    from cluster.articles.importer import import_articles, read_files
    from cluster.service.facade import StoryService
    from cluster.settings import load_settings
    from tests.fuzz import fuzz

    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings({"data_dir": Path(folder) / "var",
                                  "index_dir": Path(folder) / "indexes",
                                  "embedder": "hashing"})
        service = StoryService(settings).open()
        import_articles(service, read_files([ROOT / "cluster" / "demo" / "demo.jsonl"]))
        logging.disable(logging.CRITICAL)  # the 4xx and any 5xx are counted below
        started = time.perf_counter()
        report = fuzz(create_app(service=service), args.examples, args.seed)
        seconds = time.perf_counter() - started
        logging.disable(logging.NOTSET)
        in_sync = service.readiness().in_sync
        service.close()
    for name, count in sorted(report.examples.items()):
        print(f"{name:<45} {count:>6} examples")
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(report.statuses.items()))
    print(f"{report.total} examples in {seconds:.1f} s; statuses {statuses}; "
          f"5xx: {report.server_errors}; check failures: {len(report.failures)}; "
          f"store and index in sync afterwards: {in_sync}")
    for failure in report.failures[:20]:
        print("  " + failure)
    if report.server_errors or report.failures or not in_sync:
        raise SystemExit(1)


if __name__ == "__main__":
    run(main)
