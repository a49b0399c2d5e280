"""What splitting the writer into P partitions would cost in quality, before
building it: each labelled file is replayed as P independent streams, each
article routed by a rule, each partition clustered by the real clusterer
alone, and the union scored with BCubed against one writer. Then the
partitions' stories are reconciled (a story joins its most similar story
of the other partitions when that story is larger or each is the other's
best match there, their centroids' cosine reaches ``--reconcile`` and, with
``--max-gap-days``, their articles lie close enough in time) and scored
again.

Routing rules:

- ``coarse``: the nearest of 64 centroids (k-means, fixed seed, on the
  first fifth of the stream in arrival order: frozen before the rest
  arrives), centroid number modulo P;
- ``hash``: the article id's hash modulo P (what routing by anything that
  ignores content gives).

    python -m benchmarks.partition_routing [FILE.jsonl ...] [--partitions 2,4]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from cluster.embedding.cache import CachingEmbedder, default_cache_dir
from cluster.embedding.models import create_embedder, embedding_text
from cluster.evaluation.replay import labelled_items, run_clusterer
from cluster.evaluation.scores import bcubed
from cluster.settings import Settings, load_settings

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
COARSE = 64
TRAINING_SHARE = 0.2


def coarse_routes(vectors: np.ndarray, partitions: int, coarse: int = COARSE,
                  seed: int = 7) -> np.ndarray:
    from sklearn.cluster import KMeans

    training = vectors[: max(coarse, int(len(vectors) * TRAINING_SHARE))]
    model = KMeans(n_clusters=min(coarse, len(training)), n_init=4, random_state=seed)
    model.fit(training)
    centroids = model.cluster_centers_ / np.linalg.norm(model.cluster_centers_, axis=1,
                                                        keepdims=True)
    return np.asarray(np.argmax(vectors @ centroids.T, axis=1) % partitions)


def hash_routes(ids: list[str], partitions: int) -> np.ndarray:
    return np.array([int(hashlib.sha256(i.encode()).hexdigest()[:8], 16) % partitions
                     for i in ids])


def reconcile(labels: list[str], routes: np.ndarray, vectors: np.ndarray,
              threshold: float, stamps: list[float | None] | None = None,
              max_gap_days: float | None = None, mutual: bool = True) -> list[str]:
    """Join each story to its most similar story of another partition when
    their centroids' cosine reaches ``threshold``, that story is larger or
    each is the other's best match there (``mutual``; else any best match),
    and, with ``max_gap_days``, their dated articles lie at most that far
    apart."""
    stories = sorted(set(labels))
    index = {s: n for n, s in enumerate(stories)}
    sums = np.zeros((len(stories), vectors.shape[1]))
    part = np.zeros(len(stories), dtype=np.int64)
    for label, route, vector in zip(labels, routes, vectors, strict=True):
        sums[index[label]] += vector
        part[index[label]] = route
    centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    parent = list(range(len(stories)))

    def find(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    similar = centroids @ centroids.T
    similar[part[:, None] == part[None, :]] = -1.0  # only across partitions
    if stamps is not None and max_gap_days is not None:
        first = np.full(len(stories), np.inf)
        last = np.full(len(stories), -np.inf)
        for label, stamp in zip(labels, stamps, strict=True):
            if stamp is not None:
                first[index[label]] = min(first[index[label]], stamp)
                last[index[label]] = max(last[index[label]], stamp)
        dated = np.isfinite(first)
        gap = np.maximum(first[:, None] - last[None, :], first[None, :] - last[:, None])
        apart = dated[:, None] & dated[None, :] & (gap > max_gap_days * 86400)
        similar[apart] = -1.0
    best = np.argmax(similar, axis=1)
    size = np.bincount([index[label] for label in labels], minlength=len(stories))
    for a, b in enumerate(best):
        # a fragment joins the larger story it matches best; two stories of one size
        # only when each is the other's best match (a chain runs only uphill)
        joins = best[b] == a or not mutual or size[a] < size[b]
        if joins and a != b and similar[a, b] >= threshold:
            parent[find(int(b))] = find(int(a))
    return [stories[find(index[label])] for label in labels]


def measure(path: Path, settings: Settings, embedder: CachingEmbedder,
            partitions: list[int], coarse: int, threshold: float,
            max_gap_days: float | None = None, mutual: bool = True) -> list[tuple[str, float]]:
    items = labelled_items(path)
    texts = [embedding_text(i.article.title, i.article.text, settings.lead_chars)
             for i in items]
    vectors = np.asarray(embedder.embed(texts))
    gold = [i.cluster for i in items]
    one, _ = run_clusterer(settings, embedder, items)
    rows = [("one writer", bcubed(gold, one)[2])]
    for count in partitions:
        for rule, routes in (("coarse", coarse_routes(vectors, count, coarse)),
                             ("hash", hash_routes([i.article.id for i in items], count))):
            labels = [""] * len(items)
            for p in range(count):
                members = [n for n in range(len(items)) if routes[n] == p]
                predicted, _ = run_clusterer(settings, embedder, [items[n] for n in members])
                for n, story in zip(members, predicted, strict=True):
                    labels[n] = f"{p}:{story}"
            rows.append((f"P={count} {rule}", bcubed(gold, labels)[2]))
            joined = reconcile(labels, routes, vectors, threshold,
                               [i.article.timestamp for i in items], max_gap_days, mutual)
            rows.append((f"P={count} {rule} + reconciled", bcubed(gold, joined)[2]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--partitions", default="2,4")
    parser.add_argument("--coarse", type=int, default=COARSE,
                        help=f"Coarse centroids for routing (default {COARSE}).")
    parser.add_argument("--reconcile", type=float, default=None,
                        help="Cosine at which stories of two partitions are joined "
                             "(default: cluster.merge_threshold).")
    parser.add_argument("--max-gap-days", type=float, default=None,
                        help="Join only stories whose dated articles lie at most this far "
                             "apart (default: no limit).")
    parser.add_argument("--any-best", action="store_true",
                        help="Join each story to its best match even when that match is "
                             "smaller and its own best is another story (chains).")
    args = parser.parse_args()
    files = args.files or [SHARED / n for n in
                           ("allsides_dev.jsonl", "ecbplus_dev.jsonl", "uci_headlines.jsonl")]
    files = [f for f in files if f.exists()]
    if not files:
        print("no labelled files (../shared/data is absent): nothing to measure")
        return
    settings = load_settings()
    embedder = CachingEmbedder(create_embedder(settings),
                               default_cache_dir() / "embeddings.sqlite3")
    partitions = [int(p) for p in args.partitions.split(",")]
    for path in files:
        threshold = (settings.cluster.merge_threshold if args.reconcile is None
                     else args.reconcile)
        for name, f1 in measure(path, settings, embedder, partitions, args.coarse, threshold,
                                args.max_gap_days, not args.any_best):
            print(f"{path.name:<22} {name:<28} B3 F1 {f1:.4f}", flush=True)


if __name__ == "__main__":
    main()
