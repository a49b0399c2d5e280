"""Storyline baselines on annotated stories: how well simple rules group the
gold stories of a labelled file into the annotated storylines.

    python -m benchmarks.storyline_baselines allsides_dev.jsonl \
        evaluation/allsides_dev_storylines.jsonl [--json]

Scores are BCubed over articles (each article's gold is its story's
storyline; a story without one is its own), from gold stories: the
baselines a storyline method must beat. "stories alone" puts every story
in its own storyline; "linking story centroids" joins stories whose
centroids (the mean of their articles' vectors, packaged model) are within
a cosine threshold, by average linkage, at each threshold of a grid, so
its best row is tuned on the data itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("labelled", type=Path, help="the labelled file (gold stories)")
    parser.add_argument("storylines", type=Path, help="the storyline annotation")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from sklearn.cluster import AgglomerativeClustering

    from cluster.embedding.cache import CachingEmbedder, default_cache_dir
    from cluster.embedding.models import create_embedder, embedding_text
    from cluster.evaluation.replay import labelled_items
    from cluster.evaluation.scores import bcubed
    from cluster.settings import load_settings

    annotation = {row["story"]: row["storyline"]
                  for row in map(json.loads, args.storylines.read_text().splitlines())}
    items = labelled_items(args.labelled)
    settings = load_settings()
    embedder = CachingEmbedder(create_embedder(settings),
                               default_cache_dir() / "embeddings.sqlite3")
    try:
        vectors = embedder.embed([embedding_text(i.article.title, i.article.text,
                                                 settings.lead_chars) for i in items])
    finally:
        embedder.close()
    stories = sorted({str(i.cluster) for i in items})
    members: dict[str, list[int]] = defaultdict(list)
    for position, item in enumerate(items):
        members[str(item.cluster)].append(position)
    centroids = np.stack([vectors[members[s]].mean(axis=0) for s in stories])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    gold = [annotation.get(str(i.cluster)) or f"alone:{i.cluster}" for i in items]
    rows: list[dict[str, object]] = []
    p, r, f = bcubed(gold, [str(i.cluster) for i in items])
    rows.append({"method": "stories alone", "precision": p, "recall": r, "f1": f})
    for threshold in np.arange(0.30, 0.86, 0.05):
        model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                        distance_threshold=1.0 - float(threshold))
        linked = dict(zip(stories, model.fit_predict(centroids).tolist(), strict=True))
        p, r, f = bcubed(gold, [linked[str(i.cluster)] for i in items])
        rows.append({"method": f"linking story centroids, cosine >= {threshold:.2f}",
                     "precision": p, "recall": r, "f1": f})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{len(items)} articles, {len(stories)} gold stories, "
          f"{len(set(gold))} gold storylines (singletons included)")
    for result in rows:
        print(f"{result['method']!s:<44} P {result['precision']:.3f}  "
              f"R {result['recall']:.3f}  F1 {result['f1']:.3f}")


if __name__ == "__main__":
    if not __package__:
        sys.exit("run from the repository root: python -m benchmarks.storyline_baselines")
    main()
