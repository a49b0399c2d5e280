#!/usr/bin/env python3
"""Evaluate story clustering on labelled JSONL files (DESIGN §6/§7): BCubed
(primary), pairwise, AMI, ARI and story counts for the clusterer, the
single-pass centroid baseline and (with the [eval] extra) BERTopic.

    python scripts/evaluate.py FILE.jsonl [FILE ...] [--set name=value ...]
        [--baseline-tau 0.5] [--no-bertopic] [--limit N] [--json]

Embeddings are cached by content hash under ~/.cache/newsclusters (or
$XDG_CACHE_HOME), so trying settings does not re-embed.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts._common import run


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set takes name=value, got {pair!r}")
        overrides[name.strip().removeprefix("cluster.")] = value.strip()
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="NAME=VALUE", help="override a clusterer setting")
    parser.add_argument("--baseline-tau", type=float, default=0.5)
    parser.add_argument("--no-bertopic", action="store_true")
    parser.add_argument("--limit", type=int, default=0, help="first N articles of each file")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from tqdm import tqdm

    from cluster.embedding.cache import CachingEmbedder, default_cache_dir
    from cluster.embedding.models import create_embedder
    from cluster.evaluation.replay import evaluate_items, format_table, labelled_items
    from cluster.settings import load_settings

    settings = load_settings()
    settings = settings.with_cluster(**parse_overrides(args.overrides))
    cache = (args.cache_dir or default_cache_dir()) / "embeddings.sqlite3"
    embedder = CachingEmbedder(create_embedder(settings), cache)
    evaluations = []
    for path in args.files:
        items = labelled_items(path, args.limit or None)
        with tqdm(total=len(items), unit="article", desc=path.name,
                  disable=args.json) as bar:
            evaluations.append(evaluate_items(
                path.name, items, settings, embedder, args.baseline_tau,
                with_bertopic=not args.no_bertopic, progress=bar.update))
    if args.json:
        print(json.dumps({
            "settings": settings.cluster.model_dump(),
            "files": [{**asdict(e), "margin": e.margin} for e in evaluations],
        }, indent=2))
    else:
        print(f"settings: {settings.cluster.model_dump()}")
        print(format_table(evaluations))
    embedder.close()


if __name__ == "__main__":
    run(main)
