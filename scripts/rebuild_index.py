#!/usr/bin/env python3
"""Rebuild the FAISS index from the store, beside the live one, then swap it in
atomically (a crash midway leaves the old snapshot current).

    python scripts/rebuild_index.py [--reembed] [--recluster]

--reembed    re-embed every article with the configured model (after a model change)
--recluster  replay every article in time order through the clusterer; stories keep
             the id of the old story they share most articles with

Run it while the server is stopped; the server loads the new snapshot at start-up.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts._common import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reembed", action="store_true")
    parser.add_argument("--recluster", action="store_true")
    args = parser.parse_args()

    from tqdm import tqdm

    from cluster.service.facade import StoryService
    from cluster.settings import load_settings

    settings = load_settings()
    service = (StoryService.for_rebuild(settings) if args.reembed
               else StoryService(settings)).open()
    bars: dict[int, tqdm[None]] = {}

    def progress(done: int, total: int) -> None:
        bar = bars.setdefault(total, tqdm(total=total, unit="article", desc="rebuild"))
        bar.n = done
        bar.refresh()

    try:
        result = service.rebuild(reembed=args.reembed, recluster=args.recluster,
                                 progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
        service.close()
    print(f"rebuilt index: {result['articles']} articles, store sequence {result['store_seq']}, "
          f"{result['seconds']} s")


if __name__ == "__main__":
    run(main)
