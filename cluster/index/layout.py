"""Which vector index a store gets, and building or converting it.

Exact search (``IndexFlatIP``) costs a scan of every vector per query and
1,536 bytes per 384-d vector: the right choice while the store is small, and
the reference everything else is measured against. From ``ivf_threshold``
vectors on, the "auto" layout switches to IVF with 8-bit scalar quantisation
(``FaissIvfIndex``): each query scans the ``nprobe`` nearest of about
sqrt(n) cells, and a vector costs about 400 bytes. The switch happens when
an index snapshot is written (and when an index is built from the store);
An IVF index that outgrows its cells (their count should be half again as
many for its size, i.e. it holds 2.25 times what it was trained for) is
retrained from the store at the next snapshot; so is any by
``newsclusters rebuild``. Without that, cells trained at 50,000 vectors would
each hold 20 times as many at a million and every query would scan 20 times
as much.
"""

from __future__ import annotations

import logging
import time

from cluster.index.backends import (
    IVF_SAMPLE_PER_LIST,
    FaissFlatIndex,
    FaissIvfIndex,
    VectorIndex,
    create_index,
    flat_contents,
    ivf_lists,
)
from cluster.store import Reader
from cluster.types import Matrix

LOG = logging.getLogger(__name__)

MIN_IVF = 2_000
"""Below this many vectors even a forced IVF layout stays exact (nothing to train on)."""

ADAPTIVE = ("auto", "faiss-ivf")

REGROW_FACTOR = 1.5
"""An IVF index is retrained once its size calls for this many times its cells."""


def wanted_kind(backend: str, count: int, threshold: int) -> str:
    """The index kind a store of ``count`` vectors should have."""
    if backend == "auto":
        return "faiss-ivf" if count >= max(threshold, MIN_IVF) else "faiss-flat"
    if backend == "faiss-ivf":
        return "faiss-ivf" if count >= MIN_IVF else "faiss-flat"
    return backend


def accepts(backend: str, kind: str) -> bool:
    """Whether a snapshot of ``kind`` serves a service configured for ``backend``."""
    if backend in ADAPTIVE:
        return kind in ("faiss-flat", "faiss-ivf")
    return backend == kind


def training_sample(reader: Reader, count: int) -> Matrix:
    lists = ivf_lists(count)
    step = max(1, count // (lists * IVF_SAMPLE_PER_LIST))
    return reader.sample_vectors(step)


def build_from_store(
    reader: Reader, backend: str, dimension: int, threshold: int, nprobe: int,
) -> VectorIndex:
    """An empty index of the right kind for the store (IVF cells trained on a
    sample of its vectors spread over its whole history)."""
    count = reader.article_count()
    if wanted_kind(backend, count, threshold) != "faiss-ivf":
        return create_index("faiss-flat" if backend in ADAPTIVE else backend, dimension)
    return FaissIvfIndex.trained(dimension, training_sample(reader, count),
                                 ivf_lists(count), nprobe)


def adapt(index: VectorIndex, backend: str, threshold: int, nprobe: int) -> VectorIndex:
    """``index`` converted to the layout its size calls for (or itself)."""
    if not isinstance(index, FaissFlatIndex):
        return index
    if wanted_kind(backend, len(index), threshold) != "faiss-ivf":
        return index
    started = time.perf_counter()
    keys, vectors = flat_contents(index)
    step = max(1, len(keys) // (ivf_lists(len(keys)) * IVF_SAMPLE_PER_LIST))
    converted = FaissIvfIndex.trained(index.dimension, vectors[::step], ivf_lists(len(keys)),
                                      nprobe)
    for start in range(0, len(keys), 50_000):
        converted.add(keys[start:start + 50_000], vectors[start:start + 50_000])
    LOG.info("index: %d vectors moved from exact search to IVF-SQ8 (%d cells) in %.1f s",
             len(keys), converted.lists, time.perf_counter() - started)
    return converted


def outgrown(index: VectorIndex) -> bool:
    """Whether an IVF index holds so much more than it was trained for that
    its cells should be retrained (see the module docstring)."""
    return isinstance(index, FaissIvfIndex) and (
        ivf_lists(len(index)) >= REGROW_FACTOR * index.lists)


def recall_at(approximate: VectorIndex, exact: VectorIndex, queries: Matrix, k: int) -> float:
    """Share of the exact top k that the approximate index also returns."""
    _, truth = exact.search(queries, k)
    _, found = approximate.search(queries, k)
    hits = sum(len(set(t[t >= 0].tolist()) & set(f[f >= 0].tolist()))
               for t, f in zip(truth, found, strict=True))
    total = int((truth >= 0).sum())
    return hits / total if total else 1.0

