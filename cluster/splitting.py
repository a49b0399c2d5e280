"""Splitting a story that holds two events.

An online clusterer commits early: the first report of an event that
resembles an existing story (a second earthquake, another celebrity entering
rehab) joins that story, and the event's later reports follow it there,
since each is close to the one before. The join and merge scores cannot undo
this, because they compare an article or a story with the mixed story as a
whole. Once the story has enough members, its two events show as two
groups: a two-way partition of the members, by dense vectors and TF-IDF
vectors together (two-means, started from the two members farthest apart),
gives halves whose lexical profiles (the events' names, places and figures)
overlap little. A story is split when both halves have ``MIN_PART`` members
and their profiles' cosine is below ``split_threshold``.

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

from cluster.lexical import Weights
from cluster.types import Matrix

MIN_PART = 3
"""Members each half needs: two articles agreeing could be chance."""
FIRST_CHECK = 2 * MIN_PART
GROWTH = 1.25
ROUNDS = 10


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


def _lexical_matrix(weights: Sequence[Weights]) -> np.ndarray:
    vocabulary: dict[str, int] = {}
    for vector in weights:
        for term in vector:
            vocabulary.setdefault(term, len(vocabulary))
    matrix = np.zeros((len(weights), max(1, len(vocabulary))), dtype=np.float64)
    for row, vector in enumerate(weights):
        for term, value in vector.items():
            matrix[row, vocabulary[term]] = value
    return matrix


def _two_means(points: np.ndarray) -> np.ndarray:
    """Spherical two-means; deterministic (farthest-pair start, ties by row)."""
    mean = points.sum(axis=0)
    first = int(np.argmin(points @ mean))
    second = int(np.argmin(points @ points[first]))
    centres = points[[first, second]]
    labels = np.zeros(len(points), dtype=np.int64)
    for _ in range(ROUNDS):
        fresh = np.argmax(points @ centres.T, axis=1)
        if fresh.min() == fresh.max() or np.array_equal(fresh, labels):
            labels = fresh
            break
        labels = fresh
        centres = np.stack([points[labels == k].sum(axis=0) for k in (0, 1)])
        centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    return labels


def propose_split(
    vectors: Matrix, weights: Sequence[Weights], threshold: float, dense_share: float,
) -> np.ndarray | None:
    """A boolean mask of the members that form the second event, or None when
    the story reads as one. ``dense_share`` weighs the dense vectors against
    the TF-IDF ones in the partition (the join score's own blend)."""
    if len(weights) < 2 * MIN_PART or threshold <= 0.0:
        return None
    lexical = _lexical_matrix(weights)
    points = np.hstack([math.sqrt(dense_share) * np.asarray(vectors, dtype=np.float64),
                        math.sqrt(1.0 - dense_share) * lexical])
    points /= np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
    labels = _two_means(points)
    sizes = np.bincount(labels, minlength=2)
    if sizes.min() < MIN_PART:
        return None
    first, second = lexical[labels == 0].sum(axis=0), lexical[labels == 1].sum(axis=0)
    norms = float(np.linalg.norm(first) * np.linalg.norm(second))
    overlap = float(first @ second) / norms if norms > 0 else 0.0
    if overlap >= threshold:
        return None
    mask: np.ndarray = labels == 1
    return mask
