"""A reader process's copy of the index: the writer's last snapshot and the
segments published after it, memory-mapped, plus a small tail of what the
store's index log added since.

Every reader process maps the same files, so the operating system holds
their vectors once however many readers there are; only the tail (the
articles written since the last snapshot or segment, a few thousand at most
before the writer's next one) is per process. The mapped parts are never
changed: a key that the log, or a later segment, removes or replaces is
hidden from an earlier part's results, and a replaced vector lives in the
later part or the tail. When a newer snapshot or segment arrives the reader
maps the whole chain again and starts an empty tail (``ReplicaIndex`` is
replaced whole, never edited in place).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
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
    """A read-mostly ``VectorIndex``: sealed (mapped) parts that are never
    changed, a tail that takes every add, and the sealed keys hidden by a
    remove or a replacement.

    The sealed parts are the published snapshot and the segments published
    after it (cluster/index/segments.py), oldest first: a key that a later
    part holds again, or that it lists as removed, is hidden in every
    earlier part (``seal``)."""

    kind = "replica"

    def __init__(self, sealed: VectorIndex | Sequence[VectorIndex],
                 tail: VectorIndex | None = None) -> None:
        self._parts: list[VectorIndex] = (
            list(sealed) if isinstance(sealed, Sequence) else [sealed])
        if not self._parts:
            raise ValueError("a replica needs at least one sealed part")
        self._tail = tail if tail is not None else FaissFlatIndex(self._parts[0].dimension)
        self._hidden: list[set[int]] = [set() for _ in self._parts]
        self._may_hold: list[KeyArray | None] = [None for _ in self._parts]
        """Per part, sorted keys it can hold (a segment's changed keys), so that a
        lookup skips a part that cannot hold a key: FAISS answers a missing key
        with an exception, which costs about a millisecond."""
        self._lock = threading.RLock()

    @classmethod
    def of_segments(cls, base: VectorIndex,
                    segments: Sequence[tuple[VectorIndex, KeyArray]]) -> ReplicaIndex:
        """The snapshot ``base`` followed by its segments, each with the keys
        whose entries it changed (held again or removed)."""
        return cls.of_chains([(base, segments)])

    @classmethod
    def of_chains(cls, chains: Sequence[tuple[VectorIndex, Sequence[tuple[VectorIndex,
                                                                          KeyArray]]]]
                  ) -> ReplicaIndex:
        """Several snapshots, each followed by its segments: the partitions of a
        partitioned writer, whose indexes hold different articles. A segment
        hides what it changed in the parts of its own chain before it."""
        parts: list[VectorIndex] = []
        hiding: list[tuple[int, int, KeyArray]] = []
        for base, segments in chains:
            start = len(parts)
            parts.append(base)
            for index, changed in segments:
                parts.append(index)
                hiding.append((start, len(parts) - 1, np.unique(_as_keys(changed))))
        replica = cls(parts)
        for start, position, keys in hiding:
            replica._may_hold[position] = keys
            replica._hide(keys, before=position, after=start)
        return replica

    @property
    def dimension(self) -> int:
        return self._parts[0].dimension

    @property
    def sealed_parts(self) -> int:
        return len(self._parts)

    @property
    def tail_size(self) -> int:
        return len(self._tail)

    def __len__(self) -> int:
        with self._lock:
            return (sum(len(part) for part in self._parts)
                    - sum(len(hidden) for hidden in self._hidden) + len(self._tail))

    def _hide(self, keys: KeyArray, before: int | None = None, after: int = 0) -> int:
        """Hide the given keys' vectors in the sealed parts (those from position
        ``after`` to before ``before``, or all); returns how many were visible."""
        count = 0
        for position in range(after, len(self._parts) if before is None else before):
            hidden = self._hidden[position]
            may_hold = self._may_hold[position]
            candidates = keys if may_hold is None else keys[np.isin(keys, may_hold)]
            fresh = [k for k in candidates.tolist() if k not in hidden]
            if not fresh:
                continue
            _, held = self._parts[position].lookup(np.array(fresh, dtype=np.int64))
            visible = [k for k, h in zip(fresh, held.tolist(), strict=True) if h]
            hidden.update(visible)
            count += len(visible)
        return count

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
        found: list[tuple[Matrix, NDArray[np.int64]]] = []
        with self._lock:
            for part, hidden in zip(self._parts, self._hidden, strict=True):
                # over-fetch by the hidden count so k visible ones remain
                scores, keys = part.search(matrix, k + len(hidden))
                if hidden:
                    hidden_keys = np.fromiter(hidden, dtype=np.int64, count=len(hidden))
                    keys = np.where(np.isin(keys, hidden_keys), -1, keys)
                found.append((scores, keys))
            found.append(self._tail.search(matrix, k))
        all_scores = np.concatenate([scores for scores, _ in found], axis=1)
        all_keys = np.concatenate([keys for _, keys in found], axis=1)
        scores_out = np.zeros((len(matrix), k), dtype=np.float32)
        keys_out = np.full((len(matrix), k), -1, dtype=np.int64)
        for row in range(len(matrix)):
            keep = all_keys[row] >= 0
            keys, scores = all_keys[row][keep], all_scores[row][keep]
            order = np.lexsort((keys, -scores))[:k]
            keys_out[row, :order.size] = keys[order]
            scores_out[row, :order.size] = scores[order]
        return scores_out, keys_out

    def lookup(self, keys: KeyArray) -> tuple[Matrix, NDArray[np.bool_]]:
        keys = _as_keys(keys)
        with self._lock:
            vectors, held = self._tail.lookup(keys)
            # the newest part that holds a key visibly answers for it
            for part, hidden, may_hold in zip(reversed(self._parts), reversed(self._hidden),
                                              reversed(self._may_hold), strict=True):
                missing = ~held
                if may_hold is not None:
                    missing &= np.isin(keys, may_hold)
                if not missing.any():
                    if (~held).any():
                        continue
                    break
                wanted = keys[missing]
                part_vectors, part_held = part.lookup(wanted)
                visible = part_held & ~np.isin(
                    wanted, np.fromiter(hidden, dtype=np.int64, count=len(hidden)))
                rows = np.flatnonzero(missing)
                vectors[rows[visible]] = part_vectors[visible]
                held[rows[visible]] = True
        return vectors, held

    def write(self, path: Path) -> None:
        raise ReadOnlyIndex("a reader's replica is never written: the writer snapshots the index")
