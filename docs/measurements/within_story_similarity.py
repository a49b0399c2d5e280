"""Typical similarity between two articles of one gold story, as the service
scores it (docs/QUALITY.md, "Tried in the seventh session": the size-aware
merge threshold, whose rho this measured).

For every pair of articles in the same gold story: the dense cosine of their
vectors (the packaged model, as the service embeds them), the cosine of their
TF-IDF vectors (weighed as the service weighs them, document frequencies
over the whole file) and the service's blend of the two,
(1 - lexical_weight) * dense + lexical_weight * TF-IDF. Prints the means,
and sqrt(blend): how closely one article is expected to match its story's
direction.

    python docs/measurements/within_story_similarity.py ../shared/data/allsides_dev.jsonl \
        ../shared/data/ecbplus_dev.jsonl ../shared/data/uci_headlines.jsonl
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from cluster.embedding import create_embedder, embedding_text
from cluster.embedding_cache import CachingEmbedder, default_cache_dir
from cluster.evaluation import labelled_items
from cluster.lexical import TermStats, article_terms
from cluster.settings import load_settings


def main(paths: list[str]) -> None:
    settings = load_settings({})
    embedder = CachingEmbedder(create_embedder(settings),
                               default_cache_dir() / "embeddings.sqlite3")
    beta = settings.cluster.lexical_weight
    print(f"{'file':22} {'pairs':>8} {'dense':>7} {'TF-IDF':>7} {'blend':>7} {'c(1)':>6}")
    for path in paths:
        items = labelled_items(Path(path))
        texts = [embedding_text(i.article.title, i.article.text, settings.lead_chars)
                 for i in items]
        vectors = embedder.embed(texts).astype(np.float64)
        counts = [article_terms(text) for text in texts]
        stats = TermStats()
        for terms in counts:
            stats.add(terms)
        weights = [stats.weigh(terms) for terms in counts]
        stories: dict[str, list[int]] = defaultdict(list)
        for row, item in enumerate(items):
            stories[str(item.cluster)].append(row)
        dense: list[float] = []
        lexical: list[float] = []
        for members in stories.values():
            block = vectors[members] @ vectors[members].T
            for a in range(len(members)):
                for b in range(a + 1, len(members)):
                    dense.append(float(block[a, b]))
                    first, second = weights[members[a]], weights[members[b]]
                    lexical.append(sum(v * second.get(t, 0.0) for t, v in first.items()))
        mean_dense, mean_lexical = float(np.mean(dense)), float(np.mean(lexical))
        blend = (1.0 - beta) * mean_dense + beta * mean_lexical
        print(f"{Path(path).name:22} {len(dense):8d} {mean_dense:7.3f} {mean_lexical:7.3f} "
              f"{blend:7.3f} {math.sqrt(blend):6.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
