"""Which partition of the writer clusters an article: the partition of the
nearest of a frozen set of coarse centroids (cell n to partition n mod P).

Articles about one event lie close together, so routing by content keeps
most of a story in one partition; routing by anything that ignores content
(an id's hash) splits every story (measured in docs/SCALE_OUT.md: BCubed F1
0.66 against 0.87 on ecbplus_dev before reconciliation). The centroids are
k-means centres of the first articles of the stream, trained once with a
fixed seed and kept in the store, so every partition, and every restart of
one, routes every article the same way. A plan is versioned: a new plan
(other partitions, other centroids) is a redeployment, made on a drained
queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from cluster.errors import ConfigurationError
from cluster.types import Matrix

PLAN_META = "routing_plan"
"""The store's meta key that holds the plan, as JSON."""
CELLS_PER_PARTITION = 2
"""Coarse cells per partition: four cells for two partitions routed best of
the counts measured (docs/SCALE_OUT.md)."""
SEED = 7


@dataclass(frozen=True)
class RoutingPlan:
    version: int
    partitions: int
    centroids: Matrix
    """Unit vectors, one row per coarse cell."""
    cells: tuple[int, ...]
    """The partition of each cell."""

    def route(self, vectors: Matrix) -> np.ndarray:
        """The partition of each vector."""
        if len(vectors) == 0:
            return np.zeros(0, dtype=np.int64)
        nearest = np.argmax(np.asarray(vectors, dtype=np.float32) @ self.centroids.T, axis=1)
        return np.asarray(np.array(self.cells, dtype=np.int64)[nearest], dtype=np.int64)

    def to_json(self) -> str:
        return json.dumps({"version": self.version, "partitions": self.partitions,
                           "centroids": self.centroids.astype(float).round(7).tolist(),
                           "cells": list(self.cells)})

    @classmethod
    def from_json(cls, text: str) -> RoutingPlan:
        try:
            data = json.loads(text)
            centroids = np.array(data["centroids"], dtype=np.float32)
            plan = cls(int(data["version"]), int(data["partitions"]), centroids,
                       tuple(int(c) for c in data["cells"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigurationError(f"the store's routing plan is unreadable ({error})") from None
        if plan.partitions < 1 or centroids.ndim != 2 or len(plan.cells) != len(centroids) \
                or set(plan.cells) != set(range(plan.partitions)):
            raise ConfigurationError("the store's routing plan is inconsistent")
        return plan


def train_plan(vectors: Matrix, partitions: int, version: int = 1) -> RoutingPlan:
    """A plan for ``partitions`` from the stream's first vectors (deterministic:
    the same vectors give the same plan)."""
    from sklearn.cluster import KMeans

    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    cells = partitions * CELLS_PER_PARTITION
    matrix = np.asarray(vectors, dtype=np.float64)
    if len(matrix) < cells:
        raise ValueError(f"a plan for {partitions} partitions needs at least {cells} vectors")
    model = KMeans(n_clusters=cells, n_init=4, random_state=SEED).fit(matrix)
    centres = model.cluster_centers_
    norms = np.linalg.norm(centres, axis=1, keepdims=True)
    centroids = (centres / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    # cell n to partition n mod P: sharing the cells out by their size instead
    # evened the partitions' loads and cost uci_headlines 0.017 BCubed F1
    # (0.8559 against 0.8703; benchmarks/partitioned.py)
    return RoutingPlan(version, partitions, centroids,
                       tuple(cell % partitions for cell in range(cells)))


@dataclass(frozen=True)
class Share:
    """One partition of a partitioned writer: its number and the plan that
    routes the stream's articles to it."""

    index: int
    plan: RoutingPlan

    @property
    def role(self) -> str:
        """Its name among the writers sharing the store (and its index folder's)."""
        return f"partition-{self.index}"

    def owns(self, vectors: Matrix) -> np.ndarray:
        """Which of these vectors' articles this partition clusters."""
        return np.asarray(self.plan.route(vectors) == self.index)
