"""Clustering metrics on cases computed by hand."""

from __future__ import annotations

import pytest

from cluster.evaluation.scores import bcubed, pairwise, score


def test_perfect_clustering_scores_one() -> None:
    gold = ["a", "a", "b", "c", "c", "c"]
    predicted = [7, 7, 3, 1, 1, 1]  # label names do not matter
    assert bcubed(gold, predicted) == (1.0, 1.0, 1.0)
    assert pairwise(gold, predicted) == (1.0, 1.0, 1.0)
    scores = score(gold, predicted)
    assert scores.ami == pytest.approx(1.0) and scores.ari == pytest.approx(1.0)
    assert scores.predicted_clusters == scores.gold_clusters == 3


def test_bcubed_hand_computed() -> None:
    # gold: {1,2,3} {4,5}; predicted: {1,2} {3,4,5}
    gold = ["x", "x", "x", "y", "y"]
    predicted = ["p", "p", "q", "q", "q"]
    # precision per item: 1, 1, 1/3, 2/3, 2/3  -> mean 11/15
    # recall per item:    2/3, 2/3, 1/3, 1, 1  -> mean 11/15
    p, r, f = bcubed(gold, predicted)
    assert p == pytest.approx(11 / 15)
    assert r == pytest.approx(11 / 15)
    assert f == pytest.approx(11 / 15)


def test_bcubed_all_in_one_and_all_apart() -> None:
    gold = ["x", "x", "y", "y"]
    # everything in one cluster: precision 1/2 per item, recall 1
    assert bcubed(gold, [0, 0, 0, 0])[:2] == (0.5, 1.0)
    # everything apart: precision 1, recall 1/2
    assert bcubed(gold, [0, 1, 2, 3])[:2] == (1.0, 0.5)


def test_pairwise_hand_computed() -> None:
    gold = ["x", "x", "x", "y", "y"]
    predicted = ["p", "p", "q", "q", "q"]
    # predicted pairs: (1,2) (3,4) (3,5) (4,5) = 4; gold pairs: (1,2) (1,3) (2,3) (4,5) = 4
    # together in both: (1,2) (4,5) = 2
    assert pairwise(gold, predicted) == pytest.approx((0.5, 0.5, 0.5))


def test_pairwise_without_pairs_is_precise_by_convention() -> None:
    assert pairwise(["x", "x"], [1, 2]) == (1.0, 0.0, 0.0)


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError):
        bcubed(["x"], [1, 2])
