"""The part of ingest that no rewrite of the Python loop can remove: the two
searches every article needs, timed alone on vectors of the synthetic
stream's structure (fifth 1 Dec 2026 session).

    .venv/bin/python docs/measurements/ingest_floor.py 100000 1000000

For each size N: an IVF-SQ8 index over N vectors with the cells the service
has at that size (trained at ``ivf_threshold``, retrained as it grows; the
shipped ``index_nprobe``), searched and
added to in batches of 500 as ingest does (k = neighbours + 1); and the exact
top-k search over the join window's story centroids (the million-article
run made 310,264 stories over 50 days of stream: about ``WINDOW_STORIES`` in
a three-day window).
Each is timed on one thread, the one core the presentation worker leaves,
and reported per article. What remains of the 0.5 ms per article that 2,000
articles/s allows is what storage, the clusterer and maintenance may use.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from cluster.centroid import top_inner_products
from cluster.index import FaissIvfIndex, ivf_lists
from cluster.index_layout import REGROW_FACTOR
from cluster.settings import Settings, load_settings
from cluster.synthetic import NOISE_SHARE, STORY_SHARE, TOPIC_SHARE

BATCH = 500
ROUNDS = 20
WINDOW_STORIES = 19_000


def structured_vectors(count: int, rng: np.random.Generator, dimension: int = 384) -> np.ndarray:
    """Unit vectors as ``cluster.synthetic`` builds them: topic + story + noise,
    about three articles per story, without the text."""
    def units(n: int) -> np.ndarray:
        raw = rng.standard_normal((n, dimension)).astype(np.float32)
        unit: np.ndarray = raw / np.linalg.norm(raw, axis=1, keepdims=True)
        return unit

    stories = max(1, count // 3)
    topics = max(20, count // 2000)
    topic_of = rng.integers(0, topics, size=stories)
    story_of = rng.integers(0, stories, size=count)
    topic_dirs, story_dirs = units(topics), units(stories)
    vectors = np.empty((count, dimension), dtype=np.float32)
    for start in range(0, count, 100_000):
        rows = story_of[start:start + 100_000]
        block = (np.sqrt(TOPIC_SHARE) * topic_dirs[topic_of[rows]]
                 + np.sqrt(STORY_SHARE) * story_dirs[rows]
                 + np.sqrt(NOISE_SHARE) * units(len(rows)))
        vectors[start:start + len(rows)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return vectors


def service_cells(size: int, threshold: int) -> int:
    """The cells the service's index has at ``size``: trained when it turns
    IVF, retrained once the size calls for ``REGROW_FACTOR`` times as many."""
    cells = ivf_lists(threshold)
    while ivf_lists(size) >= REGROW_FACTOR * cells:
        cells = math.ceil(REGROW_FACTOR * cells)
    return cells


def per_article_ms(seconds: float) -> float:
    return 1000.0 * seconds / (ROUNDS * BATCH)


def main() -> None:
    import faiss

    settings = load_settings({})
    k = settings.cluster.neighbours + 1
    print(f"{'stored':>9} {'cells':>6} {'nprobe':>6} {'threads':>7} {'search ms':>10} "
          f"{'add ms':>7} {'centroids ms':>13} {'sum ms':>7} {'cap art/s':>10}")
    for size in (int(arg) for arg in sys.argv[1:]):
        rng = np.random.default_rng(7)
        vectors = structured_vectors(size + ROUNDS * BATCH, rng)
        stored, incoming = vectors[:size], vectors[size:]
        lists = service_cells(size, settings.ivf_threshold)
        index = FaissIvfIndex.trained(384, stored[rng.choice(size, min(size, 50 * lists),
                                                             replace=False)],
                                      lists, settings.index_nprobe)
        for start in range(0, size, 100_000):
            block = stored[start:start + 100_000]
            index.add(np.arange(start, start + len(block), dtype=np.int64), block)
        centroids = structured_vectors(WINDOW_STORIES, rng)
        for threads in (1, 2):
            faiss.omp_set_num_threads(threads)
            report(size, lists, threads, settings, index, centroids, incoming, k)


def report(size: int, lists: int, threads: int, settings: Settings, index: FaissIvfIndex,
           centroids: np.ndarray, incoming: np.ndarray, k: int) -> None:
    raw = index._index  # the FAISS object itself: the wrapper picks its own threads
    search = add = centroid = 0.0
    for round_ in range(ROUNDS):
        batch = incoming[round_ * BATCH:(round_ + 1) * BATCH]
        began = time.perf_counter()
        raw.search(batch, k)
        search += time.perf_counter() - began
        began = time.perf_counter()
        top_inner_products(batch, centroids, settings.cluster.centroid_candidates + 16)
        centroid += time.perf_counter() - began
        began = time.perf_counter()
        keys = np.arange(size + round_ * BATCH, size + (round_ + 1) * BATCH, dtype=np.int64)
        raw.add_with_ids(batch, keys)
        add += time.perf_counter() - began
    index.remove(np.arange(size, size + ROUNDS * BATCH, dtype=np.int64))
    total = per_article_ms(search + add + centroid)
    print(f"{size:>9,} {lists:>6} {settings.index_nprobe:>6} {threads:>7} "
          f"{per_article_ms(search):>10.3f} {per_article_ms(add):>7.3f} "
          f"{per_article_ms(centroid):>13.3f} {total:>7.3f} {1000.0 / total:>10,.0f}",
          flush=True)


if __name__ == "__main__":
    main()
