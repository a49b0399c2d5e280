"""Post-hoc story splits on the final assignment of the evaluation replay
(docs/QUALITY.md, "Story splits"): the upper-bound experiment that came
before the online split in cluster/splitting.py.

Each predicted story of 2 x MIN_PART or more members is cut in two by
spherical two-means over [sqrt(a) * dense, sqrt(1 - a) * TF-IDF] (TF-IDF as
the service weighs it, document frequencies over the whole file) and split
when both halves have MIN_PART members and the halves' dense (``dense``) or
lexical (``lexical``) centroid cosine is below tau. Also counts how many
accepted splits the merge rule would undo (0.6 dense + 0.4 lexical, times
0.8 when undated, >= 0.5).

    python docs/measurements/split_posthoc.py ../shared/data/allsides_dev.jsonl \
        ../shared/data/ecbplus_dev.jsonl ../shared/data/uci_headlines.jsonl

Run with story splits disabled to see the replay's own mixtures:
NEWSCLUSTERS_CLUSTER__SPLIT_THRESHOLD=0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.feature_extraction import DictVectorizer

from cluster.embedding import create_embedder, embedding_text
from cluster.embedding_cache import CachingEmbedder, default_cache_dir
from cluster.evaluation import labelled_items, run_clusterer
from cluster.lexical import TermStats, article_terms
from cluster.metrics import bcubed
from cluster.settings import load_settings


def two_means(points: np.ndarray, rounds: int = 10) -> np.ndarray:
    first = int(np.argmin(points @ points.sum(0)))
    second = int(np.argmin(points @ points[first]))
    centres = points[[first, second]]
    labels = np.zeros(len(points), dtype=int)
    for _ in range(rounds):
        labels = np.argmax(points @ centres.T, axis=1)
        if labels.min() == labels.max():
            break
        centres = np.stack([points[labels == k].mean(0) for k in (0, 1)])
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return labels


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def split(items, dense, lexical, predicted, signal, tau, min_part, share):
    predicted = list(predicted)
    next_id = max(predicted) + 1
    groups: dict[int, list[int]] = {}
    for row, story in enumerate(predicted):
        groups.setdefault(story, []).append(row)
    splits = undone = 0
    for rows in groups.values():
        if len(rows) < 2 * min_part:
            continue
        words = lexical[rows].toarray()
        points = np.hstack([np.sqrt(share) * dense[rows], np.sqrt(1 - share) * words])
        points /= np.linalg.norm(points, axis=1, keepdims=True)
        labels = two_means(points)
        if min((labels == 0).sum(), (labels == 1).sum()) < min_part:
            continue
        dense_cos = cosine(dense[rows][labels == 0].sum(0), dense[rows][labels == 1].sum(0))
        lexical_cos = cosine(words[labels == 0].sum(0), words[labels == 1].sum(0))
        if (dense_cos if signal == "dense" else lexical_cos) >= tau:
            continue
        splits += 1
        factor = 1.0 if items[rows[0]].article.timestamp else 0.8
        undone += (0.6 * dense_cos + 0.4 * lexical_cos) * factor >= 0.5
        for row, label in zip(rows, labels, strict=True):
            if label == 1:
                predicted[row] = next_id
        next_id += 1
    return predicted, splits, undone


def main() -> None:
    settings = load_settings({})
    embedder = CachingEmbedder(create_embedder(settings),
                               default_cache_dir() / "embeddings.sqlite3")
    data = []
    for name in sys.argv[1:]:
        items = labelled_items(Path(name))
        texts = [embedding_text(i.article.title, i.article.text, settings.lead_chars)
                 for i in items]
        dense = np.asarray(embedder.embed(texts), dtype=np.float64)
        counts = [article_terms(t) for t in texts]
        stats = TermStats()
        for c in counts:
            stats.add(c)
        lexical = DictVectorizer().fit_transform([stats.weigh(c) for c in counts]).tocsr()
        predicted, _ = run_clusterer(settings, embedder, items)
        data.append((Path(name).stem, items, dense, lexical, predicted))
    for signal, taus in (("dense", (0.7, 0.8, 0.85)), ("lexical", (0.4, 0.5, 0.6))):
        for share in (0.3, 0.5):
            for tau in taus:
                cells = []
                for stem, items, dense, lexical, predicted in data:
                    gold = [i.cluster for i in items]
                    result, splits, undone = split(items, dense, lexical, predicted, signal,
                                                   tau, 3, share)
                    cells.append(f"{stem[:8]} {bcubed(gold, result)[2]:.4f} "
                                 f"({splits} splits, {undone} re-merged)")
                print(f"{signal:7} share {share} tau {tau}: " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
