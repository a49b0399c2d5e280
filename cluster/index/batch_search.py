"""Nearest-neighbour search for a whole ingest batch at once, giving exactly
what one search per article would give.

Article i of a batch may only see what was stored before it: the index as it
was when the batch began, plus the batch's articles 0..i-1. So the batch is
searched once against the index (one BLAS call instead of n small ones; a
single-vector FAISS search costs nearly as much as a 64-vector one) and
each article's list is then completed with its k most similar earlier
articles of the batch, from one batch-by-batch similarity matrix. Keys that
the batch replaces or removes are dropped from the index results and
over-fetched for.
"""

from __future__ import annotations

import itertools

import numpy as np

from cluster.index.backends import VectorIndex
from cluster.types import Matrix

TIE_TOLERANCE = 1e-6
"""Similarities this close are equal: the same pair of vectors scored by two
matrix kernels (the index's, the batch's own product) can differ in the last
bits, and the order must not depend on which kernel the CPU runs."""


def neighbour_order(pairs: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """(key, similarity) best first; similarities within ``TIE_TOLERANCE`` of
    the first of their run count as a tie, broken by key."""
    pairs = sorted(pairs, key=lambda pair: (-pair[1], pair[0]))
    if all(a[1] - b[1] > TIE_TOLERANCE for a, b in itertools.pairwise(pairs)):
        return pairs  # no near-ties: the usual case
    ordered: list[tuple[int, float]] = []
    run: list[tuple[int, float]] = []
    for pair in pairs:
        if run and run[0][1] - pair[1] > TIE_TOLERANCE:
            ordered.extend(sorted(run))
            run = []
        run.append(pair)
    ordered.extend(sorted(run))
    return ordered


class BatchNeighbourSearch:
    def __init__(self, index: VectorIndex, vectors: Matrix, k: int, replaced: int = 0) -> None:
        self._k = k
        self._vectors = vectors
        fetch = k + 1 + replaced
        if len(index) and len(vectors):
            self._scores, self._keys = index.search(vectors, fetch)
        else:
            self._scores = np.zeros((len(vectors), 0), dtype=np.float32)
            self._keys = np.zeros((len(vectors), 0), dtype=np.int64)
        self._within: np.ndarray | None = None
        self._added_rows: list[int] = []
        self._added_keys: list[int] = []
        self._stale: set[int] = set()

    @property
    def vectors(self) -> Matrix:
        """The batch's vectors, one row per article (zeros where there is none)."""
        return self._vectors

    def forget(self, key: int) -> None:
        """``key``'s pre-batch vector no longer counts (updated or deleted)."""
        self._stale.add(int(key))

    def neighbours(self, row: int, exclude: int | None) -> list[tuple[int, float]]:
        """(key, similarity) of the k nearest, best first, ties by key."""
        stale = self._stale
        pairs = [
            (int(key), float(score))
            for key, score in zip(self._keys[row].tolist(), self._scores[row].tolist(),
                                  strict=True)
            if key >= 0 and key != exclude and key not in stale
        ]
        if self._added_rows:
            if self._within is None:
                self._within = self._vectors @ self._vectors.T
            sims = self._within[row, self._added_rows]
            # Only the k best earlier articles can reach the final top k; one
            # more covers an excluded key. Equal similarities at the cut are
            # all kept so that ties still break by key.
            take = self._k + 1
            if len(sims) > take:
                cut = np.partition(sims, len(sims) - take)[len(sims) - take]
                chosen = np.flatnonzero(sims >= cut - TIE_TOLERANCE)
            else:
                chosen = np.arange(len(sims))
            keys = self._added_keys
            pairs.extend(
                (keys[i], float(sims[i])) for i in chosen.tolist() if keys[i] != exclude
            )
        return neighbour_order(pairs)[: self._k]

    def added(self, row: int, key: int) -> None:
        """Row ``row`` is now stored under ``key``: later rows must see it."""
        self._added_rows.append(row)
        self._added_keys.append(int(key))
