"""The routing plan of a partitioned writer: trained the same way twice, a
cell for every partition, kept and read back as it was, refused when damaged."""

from __future__ import annotations

import numpy as np
import pytest

from cluster.errors import ConfigurationError
from cluster.scaleout.routing import RoutingPlan, Share, train_plan


def topics(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, 16))
    vectors = centres[rng.integers(0, 6, size=n)] + 0.2 * rng.normal(size=(n, 16))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_a_plan_is_the_same_from_the_same_vectors_and_reads_back_whole() -> None:
    sample = topics(600)
    plan = train_plan(sample, 2)
    read = RoutingPlan.from_json(plan.to_json())
    assert (read.version, read.partitions, read.cells) == (plan.version, 2, plan.cells)
    assert np.allclose(read.centroids, plan.centroids, atol=1e-6)
    again = train_plan(sample, 2)
    assert np.array_equal(plan.route(sample), again.route(sample))
    assert np.array_equal(plan.route(sample),
                          RoutingPlan.from_json(plan.to_json()).route(sample))
    shares = [Share(p, plan).owns(sample) for p in range(2)]
    assert (shares[0] ^ shares[1]).all()  # every article goes to one partition


def test_every_partition_gets_cells() -> None:
    plan = train_plan(topics(2000), 3)
    assert sorted(set(plan.cells)) == [0, 1, 2] and len(plan.cells) == 6


@pytest.mark.parametrize("text", [
    "not json", '{"version": 1}',
    '{"version": 1, "partitions": 2, "centroids": [[1, 0], [0, 1]], "cells": [0, 0]}',
    '{"version": 1, "partitions": 2, "centroids": [[1, 0], [0, 1]], "cells": [0]}',
])
def test_a_damaged_plan_is_refused(text: str) -> None:
    with pytest.raises(ConfigurationError, match="routing plan"):
        RoutingPlan.from_json(text)
