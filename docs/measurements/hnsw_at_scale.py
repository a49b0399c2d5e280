"""HNSW (FAISS ``IndexHNSWSQ``, M 32, 8-bit codes) against the shipped IVF-SQ8
for ingest at a million articles (fifth 1 Dec 2026 session):

    .venv/bin/python docs/measurements/hnsw_at_scale.py 1000000

Builds the graph over N vectors of the synthetic stream's structure (as
``ingest_floor.py`` makes them) on both cores, then times batch searches of
500 queries (k 31, as ingest asks) at three ``efSearch`` values with their
recall@10 against exact search, and adding 2,000 vectors, on one and on two
threads. FAISS's HNSW cannot remove a vector, which updates and deletes need.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_floor import structured_vectors


def main() -> None:
    import faiss

    size = int(sys.argv[1])
    vectors = structured_vectors(size + 10_000, np.random.default_rng(7))
    stored, incoming = vectors[:size], vectors[size:]
    faiss.omp_set_num_threads(2)
    index = faiss.IndexHNSWSQ(384, faiss.ScalarQuantizer.QT_8bit_uniform, 32,  # type: ignore[arg-type]
                              faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 40
    index.train(stored[:20_000])
    began = time.perf_counter()
    for start in range(0, size, 100_000):
        index.add(stored[start:start + 100_000])
    print(f"built over {size:,} vectors in {time.perf_counter() - began:.1f} s (2 threads)")
    exact = faiss.IndexFlatIP(384)
    exact.add(stored)
    queries = incoming[:500]
    _, truth = exact.search(queries, 10)
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        for ef in (32, 64, 128):
            index.hnsw.efSearch = ef
            began = time.perf_counter()
            _, found = index.search(queries, 31)
            seconds = time.perf_counter() - began
            recall = np.mean([len(set(truth[i]) & set(found[i][:10])) / 10
                              for i in range(len(queries))])
            print(f"threads {threads} efSearch {ef:>3}: search {1000 * seconds / 500:.3f} ms "
                  f"per article, recall@10 {recall:.3f}")
        new = incoming[500 + 2000 * (threads - 1):500 + 2000 * threads]
        began = time.perf_counter()
        index.add(new)
        print(f"threads {threads}: add {1000 * (time.perf_counter() - began) / 2000:.3f} ms "
              "per article")


if __name__ == "__main__":
    main()
