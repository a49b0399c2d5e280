"""A reader process's copy of the index: the writer's last snapshot,
memory-mapped, plus a small tail of what the store's index log added since.

Every reader process maps the same snapshot file, so the operating system
holds its vectors once however many readers there are; only the tail (the
articles written since the snapshot, a few thousand at most before the
writer's next snapshot) is per process. The mapped part is never changed:
a key the log removes or replaces is hidden from its results, and a
replaced vector lives in the tail. When the writer writes a newer snapshot
the reader maps that one and starts an empty tail (``ReplicaIndex``
is replaced whole, never edited in place).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from cluster.errors import ClusterError
from cluster.index.backends import (
    FaissFlatIndex,
    KeyArray,
    SearchResult,
    VectorIndex,
    _as_keys,
    _as_matrix,
)
from cluster.types import Matrix


class ReadOnlyIndex(ClusterError):
    """A reader's replica was asked to write itself."""


class ReplicaIndex:
    """A read-mostly ``VectorIndex``: a sealed (mapped) index that is never
    changed, a tail that takes every add, and the sealed keys hidden by a
    remove or a replacement."""

    kind = "replica"

    def __init__(self, sealed: VectorIndex, tail: VectorIndex | None = None) -> None:
        self._sealed = sealed
        self._tail = tail if tail is not None else FaissFlatIndex(sealed.dimension)
        self._hidden: set[int] = set()
        self._lock = threading.RLock()

    @property
    def dimension(self) -> int:
        return self._sealed.dimension

    @property
    def sealed(self) -> VectorIndex:
        return self._sealed

    @property
    def tail_size(self) -> int:
        return len(self._tail)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sealed) - len(self._hidden) + len(self._tail)

    def _hide(self, keys: KeyArray) -> int:
        """Hide the given keys' sealed vectors; returns how many were visible."""
        fresh = [k for k in keys.tolist() if k not in self._hidden]
        if not fresh:
            return 0
        _, held = self._sealed.lookup(np.array(fresh, dtype=np.int64))
        visible = [k for k, h in zip(fresh, held.tolist(), strict=True) if h]
        self._hidden.update(visible)
        return len(visible)

    def add(self, keys: KeyArray, vectors: Matrix) -> None:
        keys = _as_keys(keys)
        if keys.size == 0:
            return
        matrix = _as_matrix(vectors, self.dimension)
        with self._lock:
            self._hide(keys)
            self._tail.add(keys, matrix)

    def remove(self, keys: KeyArray) -> int:
        keys = _as_keys(keys)
        if keys.size == 0:
            return 0
        with self._lock:
            return self._tail.remove(keys) + self._hide(keys)

    def search(self, queries: Matrix, k: int) -> SearchResult:
        matrix = _as_matrix(queries, self.dimension)
        k = max(k, 0)
        with self._lock:
            hidden = self._hidden
            # over-fetch by the hidden count so k visible ones remain
            sealed_scores, sealed_keys = self._sealed.search(matrix, k + len(hidden))
            tail_scores, tail_keys = self._tail.search(matrix, k)
            hidden_keys = np.fromiter(hidden, dtype=np.int64, count=len(hidden))
        scores_out = np.zeros((len(matrix), k), dtype=np.float32)
        keys_out = np.full((len(matrix), k), -1, dtype=np.int64)
        for row in range(len(matrix)):
            keys = np.concatenate([sealed_keys[row], tail_keys[row]])
            scores = np.concatenate([sealed_scores[row], tail_scores[row]])
            keep = keys >= 0
            if hidden_keys.size:
                keep &= ~(np.isin(keys, hidden_keys)
                          & (np.arange(keys.size) < sealed_keys.shape[1]))
            keys, scores = keys[keep], scores[keep]
            order = np.lexsort((keys, -scores))[:k]
            keys_out[row, :order.size] = keys[order]
            scores_out[row, :order.size] = scores[order]
        return scores_out, keys_out

    def lookup(self, keys: KeyArray) -> tuple[Matrix, NDArray[np.bool_]]:
        keys = _as_keys(keys)
        with self._lock:
            vectors, held = self._tail.lookup(keys)
            missing = ~held
            if missing.any():
                wanted = keys[missing]
                sealed_vectors, sealed_held = self._sealed.lookup(wanted)
                visible = sealed_held & ~np.isin(
                    wanted, np.fromiter(self._hidden, dtype=np.int64, count=len(self._hidden)))
                rows = np.flatnonzero(missing)
                vectors[rows[visible]] = sealed_vectors[visible]
                held[rows[visible]] = True
        return vectors, held

    def write(self, path: Path) -> None:
        raise ReadOnlyIndex("a reader's replica is never written: the writer snapshots the index")
