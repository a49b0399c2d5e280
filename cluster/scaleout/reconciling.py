"""Which stories of different partitions the coordinator joins: the live
stories as arrays, and the rule (see ``coordinator.py``).

The table is kept up to date row by row as stories change, so a barrier
costs what its changed stories cost: each is compared only with the
stories whose spans come within ``MAX_GAP_S`` of its own (all of them where
either is undated), found by one pass over the span columns, with one
matrix product for all the changed stories.
"""

from __future__ import annotations

import numpy as np

from cluster.types import StoryId

JOIN_COSINE = 0.6
MAX_GAP_S = 86_400.0


class LiveStories:
    """Live stories of every partition: owner, size, span and centroid direction."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self._row: dict[int, int] = {}
        self._ids = np.zeros(0, dtype=np.int64)
        self._parts = np.zeros(0, dtype=np.int64)
        self._counts = np.zeros(0, dtype=np.int64)
        self._first = np.zeros(0, dtype=np.float64)
        self._last = np.zeros(0, dtype=np.float64)
        self._directions = np.zeros((0, dimension), dtype=np.float32)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, story: object) -> bool:
        return story in self._row

    def partition(self, story: StoryId) -> int:
        return int(self._parts[self._row[story]])

    def put(self, story: StoryId, partition: int, count: int, total: np.ndarray,
            first: float | None, last: float | None) -> None:
        row = self._row.get(story)
        if row is None:
            row = self._grow()
            self._row[story] = row
        norm = float(np.linalg.norm(total))
        self._ids[row], self._parts[row], self._counts[row] = story, partition, count
        self._first[row] = np.nan if first is None else first
        self._last[row] = self._first[row] if last is None else last
        self._directions[row] = np.asarray(total, dtype=np.float32) / (norm or 1.0)

    def remove(self, story: StoryId) -> None:
        row = self._row.pop(story, None)
        if row is None:
            return
        end = self._size - 1
        if row != end:  # the last row fills the gap
            moved = int(self._ids[end])
            for column in (self._ids, self._parts, self._counts, self._first, self._last,
                           self._directions):
                column[row] = column[end]
            self._row[moved] = row
        self._size = end

    def _grow(self) -> int:
        if self._size == len(self._ids):
            capacity = max(1024, 2 * len(self._ids))
            self._ids = np.resize(self._ids, capacity)
            self._parts = np.resize(self._parts, capacity)
            self._counts = np.resize(self._counts, capacity)
            self._first = np.resize(self._first, capacity)
            self._last = np.resize(self._last, capacity)
            directions = np.zeros((capacity, self.dimension), dtype=np.float32)
            directions[:self._size] = self._directions[:self._size]
            self._directions = directions
        self._size += 1
        return self._size - 1

    def _near(self, rows: np.ndarray) -> np.ndarray:
        """Rows of every story whose span may come within ``MAX_GAP_S`` of any of
        these rows' spans (a superset: the gap is checked per pair)."""
        n = self._size
        first, last = self._first[:n], self._last[:n]
        dated = ~np.isnan(self._first[rows])
        if not dated.all():
            return np.arange(n)
        earliest = float(self._first[rows].min()) - MAX_GAP_S
        latest = float(self._last[rows].max()) + MAX_GAP_S
        return np.flatnonzero(np.isnan(first) | ((last >= earliest) & (first <= latest)))

    def _gap_ok(self, row: int, pool: np.ndarray) -> np.ndarray:
        first, last = self._first[pool], self._last[pool]
        if np.isnan(self._first[row]):
            return np.ones(len(pool), dtype=bool)
        gap = np.maximum(0.0, np.maximum(self._first[row] - last, first - self._last[row]))
        return np.asarray(np.isnan(first) | (gap <= MAX_GAP_S))

    def _best(self, row: int, pool: np.ndarray, scores: np.ndarray) -> tuple[int, float] | None:
        """The best-scoring story of ``pool`` of another partition than ``row``'s
        and near it in time (ties to the lower id)."""
        mask = (self._parts[pool] != self._parts[row]) & self._gap_ok(row, pool)
        mask &= pool != row
        if not mask.any():
            return None
        top = float(scores[mask].max())
        tied = pool[mask][scores[mask] == top]
        return int(tied[np.argmin(self._ids[tied])]), top

    def matches(self, changed: list[StoryId]) -> list[tuple[StoryId, StoryId]]:
        """(keep, absorb) pairs to fold: for each changed story its best match
        among the other partitions' stories, when the cosine reaches
        ``JOIN_COSINE`` and the two are each other's best across their
        partitions or the match is the larger story; best first, each story
        in one pair at most, the smaller folded into the larger."""
        rows = np.array([self._row[s] for s in changed if s in self._row], dtype=np.int64)
        if rows.size == 0 or self._size < 2:
            return []
        pool = self._near(rows)
        scores = self._directions[rows] @ self._directions[pool].T
        pairs: set[tuple[float, int, int]] = set()
        for position, row in enumerate(rows.tolist()):
            found = self._best(row, pool, scores[position])
            if found is None or found[1] < JOIN_COSINE:
                continue
            match, cosine = found
            back = self._best_in(match, row)
            if back == row or self._counts[match] > self._counts[row]:
                a, b = sorted((int(self._ids[row]), int(self._ids[match])))
                pairs.add((cosine, a, b))
        taken: set[int] = set()
        folds: list[tuple[StoryId, StoryId]] = []
        for _, a, b in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
            if a in taken or b in taken:
                continue
            taken.update((a, b))
            a_count, b_count = self._counts[self._row[a]], self._counts[self._row[b]]
            keep, absorb = (a, b) if a_count >= b_count else (b, a)
            folds.append((StoryId(keep), StoryId(absorb)))
        return folds

    def _best_in(self, row: int, other: int) -> int | None:
        """The best match of story ``row`` among the stories of ``other``'s
        partition near it in time."""
        pool = self._near(np.array([row], dtype=np.int64))
        pool = pool[self._parts[pool] == self._parts[other]]
        found = self._best(row, pool, self._directions[pool] @ self._directions[row])
        return None if found is None else found[0]
