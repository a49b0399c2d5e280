"""BCubed F1 of the clusterer over shuffled replays of an undated file
(docs/QUALITY.md): ECB+ has no dates, so any order of its articles is a
stream the service could have received, and each shuffle is a fresh test of
the same settings on an order they were not tuned on.

    python docs/measurements/shuffled_orders.py ../shared/data/ecbplus_dev.jsonl 1 2 3 4 5 6

The arguments after the file are the shuffles' seeds.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from cluster.embedding import create_embedder
from cluster.embedding_cache import CachingEmbedder, default_cache_dir
from cluster.evaluation import labelled_items, run_clusterer
from cluster.metrics import bcubed
from cluster.settings import load_settings


def main(path: str, seeds: list[int]) -> None:
    settings = load_settings({})
    embedder = CachingEmbedder(create_embedder(settings),
                               default_cache_dir() / "embeddings.sqlite3")
    items = labelled_items(Path(path))
    scores = []
    for seed in seeds:
        order = list(items)
        random.Random(seed).shuffle(order)
        predicted, _ = run_clusterer(settings, embedder, order)
        scores.append(bcubed([str(item.cluster) for item in order], predicted)[2])
        print(f"seed {seed}: BCubed F1 {scores[-1]:.4f}", flush=True)
    print(f"mean over {len(scores)} orders: {sum(scores) / len(scores):.4f}")


if __name__ == "__main__":
    main(sys.argv[1], [int(seed) for seed in sys.argv[2:]] or [1, 2, 3, 4, 5, 6])
