"""Story centroids kept as (count, sum) so that they grow, shrink and merge
exactly: the mean of the members is sum / count, and its direction (the
cosine centroid) is sum / |sum| because members are unit vectors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from cluster.text.lexical import Profile, Weights
from cluster.types import StoryId, Vector


@dataclass
class StoryState:
    """What the clusterer knows of one story."""

    count: int
    total: NDArray[np.float64]
    first: float | None
    last: float | None
    profile: Profile | None = field(default_factory=Profile)
    """None until loaded (see ``OnlineClusterer.profile``)."""

    @property
    def direction(self) -> Vector:
        norm = float(np.linalg.norm(self.total))
        if norm == 0.0:
            return np.zeros_like(self.total, dtype=np.float32)
        return (self.total / norm).astype(np.float32)

    @property
    def cohesion(self) -> float:
        """|mean|: 1 for identical members, lower as they spread."""
        return float(np.linalg.norm(self.total)) / max(self.count, 1)

    def add(self, vector: Vector, timestamp: float | None, terms: Weights | None = None) -> None:
        self.count += 1
        self.total = self.total + vector.astype(np.float64)
        if terms:
            if self.profile is None:
                raise RuntimeError("load the story's profile before adding to it")
            self.profile.add(terms)
        if timestamp is not None:
            self.first = timestamp if self.first is None else min(self.first, timestamp)
            self.last = timestamp if self.last is None else max(self.last, timestamp)

    def absorb(self, other: StoryState) -> None:
        self.count += other.count
        self.total = self.total + other.total
        if self.profile is None or other.profile is None:
            raise RuntimeError("load both stories' profiles before merging them")
        self.profile.absorb(other.profile)
        for stamp in (other.first, other.last):
            if stamp is not None:
                self.first = stamp if self.first is None else min(self.first, stamp)
                self.last = stamp if self.last is None else max(self.last, stamp)


BATCH_MARGIN = 16
"""Extra centroids fetched per article when a batch begins: stories that
earlier articles of the batch change drop out of the batch-start list, and
the list still holds the k best unchanged ones unless more than this many of
them changed (then that article's scores are computed in full)."""


def unit_directions(sums: list[np.ndarray]) -> np.ndarray:
    """Unit float32 centroids of these sums; empties the list. In float32 as the
    store keeps them: a quiet story's sum is only normalised here, never updated
    (its float64 state is read back when it changes)."""
    totals = np.stack(sums).astype(np.float32, copy=False)
    sums.clear()
    totals /= np.maximum(np.linalg.norm(totals, axis=1, keepdims=True), 1e-12)
    return totals


def top_inner_products(queries: Vector, rows: Vector, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest inner products of each query with ``rows`` (scores, row
    numbers), best first: FAISS's fused matrix product and heap, several
    times faster than a product followed by ``argpartition``."""
    import faiss

    scores, found = faiss.knn(np.ascontiguousarray(queries, dtype=np.float32),
                              np.ascontiguousarray(rows, dtype=np.float32), k,
                              metric=faiss.METRIC_INNER_PRODUCT)
    return scores, found


class CentroidTable:
    """Unit centroids of the joinable stories in one dense matrix, for a fast
    nearest-centroid search. A removed story's row is filled with the last
    row, so the matrix holds live stories only and a search never wades
    through the rows of stories that aged out."""

    def __init__(self, dimension: int) -> None:
        self._matrix = np.zeros((64, dimension), dtype=np.float32)
        self._row_of: dict[StoryId, int] = {}
        self._story_at: list[StoryId] = []
        # An open ingest batch: each article's best centroids as they were when
        # the batch began (one fused search), and the rows changed since, which
        # are rescored per article.
        self._batch_top: tuple[np.ndarray, np.ndarray] | None = None
        self._batch_rows = 0
        self._batch_k = 0
        self._touched: set[int] = set()

    def __len__(self) -> int:
        return len(self._story_at)

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._row_of

    def stories(self) -> list[StoryId]:
        return list(self._story_at)

    def rows(self, story_ids: Sequence[StoryId]) -> Vector:
        """The centroids of ``story_ids``, in that order, as one matrix."""
        return self._matrix[[self._row_of[s] for s in story_ids]]

    def put(self, story_id: StoryId, direction: Vector) -> None:
        row = self._row_of.get(story_id)
        if row is None:
            row = len(self._story_at)
            if row >= len(self._matrix):
                self._grow(row + 1)
            self._story_at.append(story_id)
            self._row_of[story_id] = row
        self._matrix[row] = direction
        if self._batch_top is not None:
            self._touched.add(row)

    @property
    def capacity(self) -> int:
        """Stories the matrix holds before it must grow."""
        return len(self._matrix)

    def reserve(self, more: int) -> None:
        """Room for ``more`` stories beyond those held, allocated at once, so
        that a restore of 150,000 quiet stories does not copy a matrix that
        doubles five times on the way."""
        needed = len(self._story_at) + more
        if needed > len(self._matrix):
            self._grow(needed)

    def _grow(self, needed: int) -> None:
        capacity = max(needed, 2 * len(self._matrix))
        grown = np.zeros((capacity, self._matrix.shape[1]), np.float32)
        used = len(self._story_at)
        grown[:used] = self._matrix[:used]
        self._matrix = grown

    def put_many(self, story_ids: Sequence[StoryId], directions: Vector) -> None:
        """``put`` for many stories at once (a restore of thousands)."""
        fresh = [s for s in story_ids if s not in self._row_of]
        if len(fresh) != len(story_ids) or len(set(fresh)) != len(fresh):
            for story_id, direction in zip(story_ids, directions, strict=True):
                self.put(story_id, direction)
            return
        start = len(self._story_at)
        needed = start + len(fresh)
        if needed > len(self._matrix):
            self._grow(needed)
        self._matrix[start:needed] = directions
        self._story_at.extend(fresh)
        self._row_of.update(zip(fresh, range(start, needed), strict=True))
        if self._batch_top is not None:
            self._touched.update(range(start, needed))

    def discard(self, story_id: StoryId) -> None:
        row = self._row_of.pop(story_id, None)
        if row is None:
            return
        last = len(self._story_at) - 1
        if row != last:
            moved = self._story_at[last]
            self._matrix[row] = self._matrix[last]
            self._story_at[row] = moved
            self._row_of[moved] = row
        self._story_at.pop()
        self._matrix[last] = 0.0
        if self._batch_top is not None:
            self._touched.update((row, last))

    def top(self, queries: Vector, k: int) -> list[list[tuple[StoryId, float]]]:
        """For each query, the ``k`` stories with the most similar centroids
        (best first; ties in any order)."""
        used = len(self._story_at)
        if not used or k <= 0 or not len(queries):
            return [[] for _ in range(len(queries))]
        scores, found = top_inner_products(queries, self._matrix[:used], min(used, k))
        story_at = self._story_at
        return [[(story_at[row], score) for row, score in zip(rows, values, strict=True)
                 if row >= 0]
                for rows, values in zip(found.tolist(), scores.tolist(), strict=True)]

    def begin_batch(self, vectors: Vector, k: int) -> None:
        """Find each article's ``k`` (plus a margin) best centroids in one
        search, instead of one scan of every centroid per article."""
        self._batch_rows = used = len(self._story_at)
        self._batch_k = k
        fetch = min(used, k + BATCH_MARGIN)
        if fetch and len(vectors):
            self._batch_top = top_inner_products(vectors, self._matrix[:used], fetch)
        else:
            self._batch_top = (np.zeros((len(vectors), 0), np.float32),
                               np.zeros((len(vectors), 0), np.int64))
        self._touched = set()

    def end_batch(self) -> None:
        self._batch_top = None
        self._touched = set()

    def similarities(self, vector: Vector, batch_row: int | None = None) -> Similarities:
        """Cosine of ``vector`` to the centroids, for one article; ``batch_row``:
        its row in the open batch (``vector`` is that row)."""
        if batch_row is None or self._batch_top is None:
            return CentroidSimilarities(self, self._matrix[: len(self._story_at)] @ vector)
        return BatchSimilarities(self, vector, batch_row)

    def nearest(self, vector: Vector, k: int) -> list[tuple[StoryId, float]]:
        return self.similarities(vector).nearest(k)


class Similarities(Protocol):
    def of(self, story_id: StoryId) -> float:
        """Cosine to the centroid of a story in the table."""

    def nearest(self, k: int) -> list[tuple[StoryId, float]]:
        """The k most similar centroids, best first, ties by story id."""


def _ranked(table: CentroidTable, rows: Sequence[int], scores: Sequence[float],
            k: int) -> list[tuple[StoryId, float]]:
    story_at = table._story_at
    found = sorted(((story_at[row], score) for row, score in zip(rows, scores, strict=True)),
                   key=lambda item: (-item[1], item[0]))
    return found[:k]


class CentroidSimilarities:
    """One article's similarities to all centroids: lookups and the top k."""

    def __init__(self, table: CentroidTable, scores: np.ndarray) -> None:
        self._table = table
        self._scores = scores

    def of(self, story_id: StoryId) -> float:
        return float(self._scores[self._table._row_of[story_id]])

    def nearest(self, k: int) -> list[tuple[StoryId, float]]:
        """The k most similar centroids, best first, ties by story id."""
        used = len(self._scores)
        if k <= 0 or not used:
            return []
        k = min(k, used)
        top = np.argpartition(-self._scores, k - 1)[:k] if k < used else np.arange(used)
        return _ranked(self._table, top.tolist(), self._scores[top].tolist(), k)


class BatchSimilarities:
    """An article of an open batch: its best centroids from the batch-start
    search, corrected for the stories changed since; other stories scored on
    demand. Gives what ``CentroidSimilarities`` gives, without scoring every
    centroid."""

    def __init__(self, table: CentroidTable, vector: Vector, batch_row: int) -> None:
        self._table = table
        self._vector = vector
        self._row = batch_row

    def of(self, story_id: StoryId) -> float:
        table = self._table
        return float(table._matrix[table._row_of[story_id]] @ self._vector)

    def nearest(self, k: int) -> list[tuple[StoryId, float]]:
        table = self._table
        used = len(table._story_at)
        if k <= 0 or not used:
            return []
        assert table._batch_top is not None
        scores, found = table._batch_top
        touched = table._touched
        rows: list[int] = []
        values: list[float] = []
        for row, score in zip(found[self._row].tolist(), scores[self._row].tolist(),
                              strict=True):
            if 0 <= row < used and row not in touched:
                rows.append(row)
                values.append(score)
        if k > table._batch_k or (len(rows) < k and found.shape[1] < table._batch_rows):
            # more of this article's best stories changed in the batch than the
            # batch-start search kept in reserve
            full = CentroidSimilarities(table, table._matrix[:used] @ self._vector)
            return full.nearest(k)
        if touched:  # every row changed or added since the batch began
            fresh = np.fromiter((r for r in touched if r < used), dtype=np.int64)
            rescored = table._matrix[fresh] @ self._vector
            if len(fresh) > k:
                best = np.argpartition(-rescored, k - 1)[:k]
                fresh, rescored = fresh[best], rescored[best]
            rows.extend(fresh.tolist())
            values.extend(rescored.tolist())
        return _ranked(table, rows, values, k)
