"""Story centroids kept as (count, sum) so that they grow, shrink and merge
exactly: the mean of the members is sum / count, and its direction (the
cosine centroid) is sum / |sum| because members are unit vectors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from cluster.lexical import Profile, Weights
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


class CentroidTable:
    """Unit centroids of the joinable stories in one matrix, for a fast
    nearest-centroid search; rows are reused after removal."""

    def __init__(self, dimension: int) -> None:
        self._matrix = np.zeros((64, dimension), dtype=np.float32)
        self._row_of: dict[StoryId, int] = {}
        self._story_at: list[StoryId | None] = []
        self._free: list[int] = []
        # An open ingest batch: every article's similarity to every centroid
        # as it was when the batch began (one matrix product), and the rows
        # changed since, which are recomputed per article.
        self._batch_scores: np.ndarray | None = None
        self._batch_rows = 0
        self._touched: set[int] = set()

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._row_of

    def stories(self) -> list[StoryId]:
        return list(self._row_of)

    def rows(self, story_ids: Sequence[StoryId]) -> Vector:
        """The centroids of ``story_ids``, in that order, as one matrix."""
        return self._matrix[[self._row_of[s] for s in story_ids]]

    def put(self, story_id: StoryId, direction: Vector) -> None:
        row = self._row_of.get(story_id)
        if row is None:
            if self._free:
                row = self._free.pop()
                self._story_at[row] = story_id
            else:
                row = len(self._story_at)
                self._story_at.append(story_id)
                if row >= len(self._matrix):
                    grown = np.zeros((len(self._matrix) * 2, self._matrix.shape[1]), np.float32)
                    grown[: len(self._matrix)] = self._matrix
                    self._matrix = grown
            self._row_of[story_id] = row
        self._matrix[row] = direction
        if self._batch_scores is not None:
            self._touched.add(row)

    def discard(self, story_id: StoryId) -> None:
        row = self._row_of.pop(story_id, None)
        if row is not None:
            self._matrix[row] = 0.0
            self._story_at[row] = None
            self._free.append(row)
            if self._batch_scores is not None:
                self._touched.add(row)

    def begin_batch(self, vectors: Vector) -> None:
        """Score a batch of articles against every centroid at once: one matrix
        product instead of one matrix-vector product per article."""
        self._batch_rows = len(self._story_at)
        self._batch_scores = vectors @ self._matrix[: self._batch_rows].T
        self._touched = set()

    def end_batch(self) -> None:
        self._batch_scores = None
        self._touched = set()

    def similarities(self, vector: Vector, batch_row: int | None = None) -> CentroidSimilarities:
        """Cosine of ``vector`` to every centroid, computed once per article;
        ``batch_row``: its row in the open batch (``vector`` is that row)."""
        used = len(self._story_at)
        if batch_row is None or self._batch_scores is None:
            return CentroidSimilarities(self, self._matrix[:used] @ vector)
        scores = np.empty(used, dtype=np.float32)
        base = self._batch_rows
        scores[:base] = self._batch_scores[batch_row]
        fresh = sorted(r for r in self._touched if r < base) + list(range(base, used))
        if fresh:
            scores[fresh] = self._matrix[fresh] @ vector
        return CentroidSimilarities(self, scores)

    def nearest(self, vector: Vector, k: int) -> list[tuple[StoryId, float]]:
        return self.similarities(vector).nearest(k)


class CentroidSimilarities:
    """One article's similarities to all centroids: lookups and the top k."""

    def __init__(self, table: CentroidTable, scores: np.ndarray) -> None:
        self._table = table
        self._scores = scores

    def of(self, story_id: StoryId) -> float:
        return float(self._scores[self._table._row_of[story_id]])

    def nearest(self, k: int) -> list[tuple[StoryId, float]]:
        """The k most similar centroids, best first, ties by story id."""
        table = self._table
        used = len(table._story_at)
        if k <= 0 or not table._row_of:
            return []
        scores = self._scores
        if table._free:
            scores = scores.copy()
            scores[table._free] = -np.inf
        k = min(k, len(table._row_of))
        top = np.argpartition(-scores, k - 1)[:k] if k < used else np.arange(used)
        found = [
            (story, float(scores[row])) for row in top
            if (story := table._story_at[row]) is not None
        ]
        found.sort(key=lambda item: (-item[1], item[0]))
        return found[:k]

