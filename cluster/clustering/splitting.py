"""Splitting a story that holds two events.

An online clusterer commits early: the first report of an event that
resembles an existing story (a second earthquake, another celebrity entering
rehab) joins that story, and the event's later reports follow it there,
since each is close to the one before. The join and merge scores cannot undo
this, because they compare an article or a story with the mixed story as a
whole. Once the story has enough members, its two events show as two
groups: a two-way partition of the members, by dense vectors and TF-IDF
vectors together (two-means, the best of runs from several starts), gives
halves whose lexical profiles (the events' names, places and figures)
overlap little. A story is split when both halves have ``MIN_PART`` members
and their overlap, corrected for how much each half's own members agree
(``corrected_overlap``), is below ``split_threshold``.

Only full-text stories are split: on bare headlines two halves of one story
share few words by chance alone, so low overlap is no evidence of two events
(measured on uci_headlines: splitting its stories cost BCubed F1). The check
runs when a story reaches a size in a geometric series (``checkpoints``), so
a large story is examined a logarithmic number of times, not once per batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cluster.text.lexical import Weights, corrected_cosine
from cluster.types import Matrix

MIN_PART = 3
"""Members each half needs: two articles agreeing could be chance."""
FIRST_CHECK = 2 * MIN_PART
GROWTH = 1.25
ROUNDS = 10
RESTARTS = 32
"""Two-means runs per check (each from another member), for stories this big
or bigger; a smaller story starts one from every member."""


def checkpoints_crossed(before: int, after: int) -> bool:
    """Whether a story that grew from ``before`` to ``after`` members passed a
    size in FIRST_CHECK · GROWTH^k (6, 8, 10, 12, 15, 19, ...)."""
    if after < FIRST_CHECK or after <= before:
        return False
    size = float(FIRST_CHECK)
    while math.ceil(size) <= after:
        if math.ceil(size) > before:
            return True
        size *= GROWTH
    return False


class _Points:
    """The members as unit points in the blend of dense and TF-IDF space, the
    TF-IDF part kept sparse: a story's vocabulary grows with its size (tens of
    thousands of terms for a big one) while each member holds a few hundred,
    so a dense members-by-terms matrix would cost memory and time
    proportional to their product. A centre is a (dense part, term part)
    pair."""

    def __init__(self, vectors: Matrix, weights: Sequence[Weights], dense_share: float) -> None:
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        columns: list[int] = []
        values: list[float] = []
        for row, vector in enumerate(weights):
            for term, value in vector.items():
                rows.append(row)
                columns.append(vocabulary.setdefault(term, len(vocabulary)))
                values.append(value)
        self.count = len(weights)
        self.terms = max(1, len(vocabulary))
        self.rows = np.asarray(rows, dtype=np.int64)
        self.columns = np.asarray(columns, dtype=np.int64)
        self.values = np.asarray(values, dtype=np.float64)
        dense = math.sqrt(dense_share) * np.asarray(vectors, dtype=np.float64)
        lexical_sq = np.bincount(self.rows, weights=self.values ** 2, minlength=self.count)
        self.lexical_sq = lexical_sq
        norms = np.sqrt((dense ** 2).sum(axis=1) + (1.0 - dense_share) * lexical_sq)
        scale = 1.0 / np.maximum(norms, 1e-12)
        self.dense = dense * scale[:, None]
        self.scaled = self.values * (math.sqrt(1.0 - dense_share) * scale[self.rows])

    def dot(self, centre: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        dense, terms = centre
        products: np.ndarray = self.dense @ dense + np.bincount(
            self.rows, weights=self.scaled * terms[self.columns], minlength=self.count)
        return products

    def total(self, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sum of the points where ``members`` (a boolean mask) is true."""
        chosen = members[self.rows]
        return (self.dense[members].sum(axis=0),
                np.bincount(self.columns[chosen], weights=self.scaled[chosen],
                            minlength=self.terms))

    def point(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        return self.total(np.arange(self.count) == row)

    def profile(self, members: np.ndarray) -> np.ndarray:
        """The unscaled TF-IDF sum of these members (their lexical profile)."""
        chosen = members[self.rows]
        return np.bincount(self.columns[chosen], weights=self.values[chosen],
                           minlength=self.terms)


def corrected_overlap(points: _Points, members: np.ndarray) -> float:
    """``corrected_cosine`` of the word profiles of the two halves (``members``
    true / false); infinite (never a split) where it is undefined."""
    halves = []
    for half in (~members, members):
        profile = points.profile(half)
        halves.append((profile, (float(profile @ profile), float(points.lexical_sq[half].sum()),
                                 int(half.sum()))))
    (first, first_sizes), (second, second_sizes) = halves
    corrected = corrected_cosine(float(first @ second), first_sizes, second_sizes)
    return math.inf if corrected is None else corrected


def _length(centre: tuple[np.ndarray, np.ndarray]) -> float:
    return math.sqrt(float(centre[0] @ centre[0]) + float(centre[1] @ centre[1]))


def _unit(centre: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    length = max(_length(centre), 1e-12)
    return centre[0] / length, centre[1] / length


def _restart_seeds(points: _Points) -> list[int]:
    """The members that start a run: the one least like the story as a whole,
    then up to RESTARTS - 1 more spread evenly over arrival order."""
    everyone = np.ones(points.count, dtype=bool)
    seeds = [int(np.argmin(points.dot(points.total(everyone))))]
    for seed in np.linspace(0, points.count - 1, min(points.count, RESTARTS)).astype(int):
        if int(seed) not in seeds and len(seeds) < RESTARTS:
            seeds.append(int(seed))
    return seeds


def _two_means(points: _Points) -> np.ndarray:
    """Spherical two-means, the best of several deterministic starts: each seed
    member with the member least like it. One start (the member least like
    the story) often settled on a cut across both events of a mixed ECB+
    story; the best of the starts by the two-means objective (the summed
    lengths of the two halves' sums) found the events' own cut in most."""
    best: tuple[float, np.ndarray] | None = None
    for first in _restart_seeds(points):
        second = int(np.argmin(points.dot(points.point(first))))
        labels = _two_means_from(points, first, second)
        value = sum(_length(points.total(labels == k)) for k in (0, 1))
        if best is None or value > best[0] + 1e-9:
            best = (value, labels)
    assert best is not None
    return best[1]


def _two_means_from(points: _Points, first: int, second: int) -> np.ndarray:
    """Spherical two-means from these two members as the first centres."""
    centres = [points.point(first), points.point(second)]
    labels = np.zeros(points.count, dtype=np.int64)
    for _ in range(ROUNDS):
        fresh = np.argmax(np.stack([points.dot(c) for c in centres], axis=1), axis=1)
        if fresh.min() == fresh.max() or np.array_equal(fresh, labels):
            labels = fresh
            break
        labels = fresh
        centres = [_unit(points.total(labels == k)) for k in (0, 1)]
    return labels


def propose_split(
    vectors: Matrix, weights: Sequence[Weights], threshold: float, dense_share: float,
) -> np.ndarray | None:
    """A boolean mask of the members that form the second event, or None when
    the story reads as one. ``dense_share`` weighs the dense vectors against
    the TF-IDF ones in the partition (the join score's own blend)."""
    if len(weights) < 2 * MIN_PART or threshold <= 0.0:
        return None
    points = _Points(vectors, weights, dense_share)
    labels = _two_means(points)
    sizes = np.bincount(labels, minlength=2)
    if sizes.min() < MIN_PART:
        return None
    mask: np.ndarray = labels == 1
    if corrected_overlap(points, mask) >= threshold:
        return None
    return mask
