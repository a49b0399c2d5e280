"""Deriving the vector index from the store: the store is the source of
truth, so every vector index can be rebuilt from it and brought up to date
by replaying its index log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from cluster.index.backends import KeyArray, VectorIndex
from cluster.index.layout import adapt, build_from_store, outgrown
from cluster.store import Reader
from cluster.types import ArticleKey, Matrix, Progress

LOG = logging.getLogger(__name__)



Keep = Callable[[Reader, KeyArray, Matrix], np.ndarray]
"""Which of these articles (keys, vectors) an index holds: a partition's share
of the store, read with the reader given."""


def index_from_store(
    reader: Reader, backend: str, dimension: int, progress: Progress | None = None,
    ivf_threshold: int = 50_000, nprobe: int = 32, keep: Keep | None = None,
) -> VectorIndex:
    """A new index holding every stored vector (or those ``keep`` picks), of
    the layout the store's size calls for."""
    index = build_from_store(reader, backend, dimension, ivf_threshold, nprobe)
    total, done = reader.article_count(), 0
    for keys, vectors in reader.iter_vectors():
        if keep is None:
            index.add(keys, vectors)
        else:
            kept = keep(reader, keys, vectors)
            index.add(keys[kept], vectors[kept])
        done += len(keys)
        if progress:
            progress(done, total)
    return index


def fit_layout(
    index: VectorIndex, reader: Reader, backend: str, dimension: int,
    ivf_threshold: int, nprobe: int, keep: Keep | None = None,
) -> VectorIndex:
    """``index`` in the layout its size calls for: an IVF index that outgrew
    its cells is rebuilt from the store (the articles ``keep`` picks; see
    cluster/index/layout.py), an exact one past the threshold becomes IVF,
    any other is kept."""
    if outgrown(index):
        started = time.perf_counter()
        index = index_from_store(reader, backend, dimension, None, ivf_threshold, nprobe,
                                 keep)
        LOG.info("index: IVF cells retrained for %d vectors (%d cells) in %.1f s",
                 len(index), getattr(index, "lists", 0), time.perf_counter() - started)
        return index
    return adapt(index, backend, ivf_threshold, nprobe)


def replay_index_log(index: VectorIndex, reader: Reader, since: int,
                     keep: Keep | None = None, until: int | None = None) -> None:
    """Apply the store's index changes after sequence ``since`` (up to
    ``until``) to ``index`` (the additions ``keep`` picks, with it)."""
    final: dict[ArticleKey, str] = {}
    for seq, key, op in reader.index_ops_since(since):
        if until is not None and seq > until:
            break
        final[key] = op
    # Every touched key leaves the index; those whose last change was an add
    # (new or updated) come back with the store's current vector.
    index.remove(np.array(sorted(final), dtype=np.int64))
    added = [k for k, op in final.items() if op == "add"]
    present = reader.articles_by_keys(added)
    keys = [k for k in added if k in present]
    if keys:
        key_array = np.array(keys, dtype=np.int64)
        vectors = reader.vectors(keys)
        kept = np.ones(len(keys), dtype=bool) if keep is None else keep(reader, key_array,
                                                                        vectors)
        index.add(key_array[kept], vectors[kept])
