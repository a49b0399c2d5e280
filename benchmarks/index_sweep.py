"""recall@10 and latency of the IVF-SQ8 layout against exact search, for a
range of nprobe: the measurement behind ``index_nprobe`` (python -m scripts.bench
--index-sweep)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from benchmarks.throughput import percentile
from cluster.index.backends import IVF_SAMPLE_PER_LIST, FaissFlatIndex, FaissIvfIndex, ivf_lists
from cluster.index.layout import recall_at
from cluster.types import Matrix


@dataclass(frozen=True)
class SweepRow:
    vectors: int
    layout: str
    nprobe: int
    recall_at_10: float
    p50_ms: float
    p99_ms: float


def _latencies(index: FaissFlatIndex | FaissIvfIndex, queries: Matrix) -> list[float]:
    found = []
    for query in queries:
        started = time.perf_counter()
        index.search(query.reshape(1, -1), 11)
        found.append((time.perf_counter() - started) * 1000)
    return found


def sweep(vectors: Matrix, nprobes: list[int], queries: int = 300, seed: int = 1) -> list[SweepRow]:
    """Exact search, then IVF-SQ8 trained as the service trains it, over
    ``vectors``; stored vectors serve as queries (related coverage asks for
    the neighbours of a stored article)."""
    count, dimension = vectors.shape
    rng = np.random.default_rng(seed)
    picked = vectors[rng.choice(count, min(queries, count), replace=False)]
    keys = np.arange(count, dtype=np.int64)
    exact = FaissFlatIndex(dimension)
    exact.add(keys, vectors)
    flat = _latencies(exact, picked)
    rows = [SweepRow(count, "exact", 0, 1.0, round(percentile(flat, 50), 3),
                     round(percentile(flat, 99), 3))]
    lists = ivf_lists(count)
    step = max(1, count // (lists * IVF_SAMPLE_PER_LIST))
    ivf = FaissIvfIndex.trained(dimension, vectors[::step], lists, 1)
    for start in range(0, count, 50_000):
        ivf.add(keys[start:start + 50_000], vectors[start:start + 50_000])
    for nprobe in nprobes:
        ivf.set_nprobe(nprobe)
        found = _latencies(ivf, picked)
        rows.append(SweepRow(count, f"IVF{ivf.lists}-SQ8", nprobe,
                             round(recall_at(ivf, exact, picked, 10), 4),
                             round(percentile(found, 50), 3), round(percentile(found, 99), 3)))
    return rows
