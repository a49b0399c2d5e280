#!/usr/bin/env python3
"""Search clusterer settings over several labelled files; pick the setting with
the best mean BCubed F1 across files and print the table.

    python scripts/tune.py FILE.jsonl [FILE ...] [--grid name=v1,v2,... ...] [--top 10]

Without --grid, a small default grid around the shipped defaults is searched.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts._common import run

DEFAULT_GRID = {
    "join_threshold": ["0.5", "0.55", "0.6"],
    "headline_threshold": ["0.35", "0.4", "0.45"],
    "time_weight": ["0.5", "0.7"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                        help="values to try for one clusterer setting (repeatable)")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()

    from tqdm import tqdm

    from cluster.embedding.cache import CachingEmbedder, default_cache_dir
    from cluster.embedding.models import create_embedder
    from cluster.evaluation.replay import labelled_items
    from cluster.evaluation.tuning import grid, tune
    from cluster.settings import load_settings

    space: dict[str, list[str]] = {}
    for entry in args.grid:
        name, _, values = entry.partition("=")
        space[name.strip().removeprefix("cluster.")] = [v for v in values.split(",") if v]
    space = space or DEFAULT_GRID
    settings = load_settings()
    embedder = CachingEmbedder(create_embedder(settings),
                               default_cache_dir() / "embeddings.sqlite3")
    files = {p.name: labelled_items(p, args.limit or None) for p in args.files}
    with tqdm(total=len(grid(space)), unit="setting", desc="tune") as bar:
        trials = tune(settings, embedder, files, space, on_trial=lambda _: bar.update())
    names = list(files)
    print(f"{'mean F1':>8} " + " ".join(f"{n[:18]:>18}" for n in names) + "  setting")
    for trial in trials[: args.top]:
        print(f"{trial.mean_f1:8.4f} "
              + " ".join(f"{trial.f1_by_file[n]:18.4f}" for n in names)
              + f"  {trial.overrides}")
    best = trials[0]
    print(f"\nbest (mean BCubed F1 {best.mean_f1:.4f}): "
          + " ".join(f"--set {k}={v}" for k, v in best.overrides.items()))
    embedder.close()


if __name__ == "__main__":
    run(main)
