"""Batched neighbour search must equal one search per article."""

from __future__ import annotations

import numpy as np

from cluster.embedding.models import normalise_rows
from cluster.index.backends import NumpyIndex
from cluster.index.batch_search import TIE_TOLERANCE, BatchNeighbourSearch, neighbour_order


def test_batch_equals_sequential_search_including_replaced_keys() -> None:
    rng = np.random.default_rng(3)
    stored = normalise_rows(rng.normal(size=(40, 8)))
    batch = normalise_rows(rng.normal(size=(12, 8)))
    sequential = NumpyIndex(8)
    sequential.add(np.arange(40), stored)
    batched = NumpyIndex(8)
    batched.add(np.arange(40), stored)
    search = BatchNeighbourSearch(batched, batch, k=5, replaced=1)
    for row in range(12):
        key = 5 if row == 3 else 100 + row  # row 3 replaces stored key 5
        if key == 5:
            sequential.remove(np.array([5]))
            search.forget(5)
        scores, keys = sequential.search(batch[row:row + 1], 6)
        expected = sorted(
            ((int(k), float(s)) for k, s in zip(keys[0], scores[0], strict=True)
             if k >= 0 and k != key), key=lambda p: (-p[1], p[0]))[:5]
        got = search.neighbours(row, exclude=key)
        assert [k for k, _ in got] == [k for k, _ in expected]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], atol=1e-5)
        sequential.add(np.array([key]), batch[row:row + 1])
        search.added(row, key)


def test_batch_keeps_ties_and_the_best_earlier_articles_of_a_long_batch() -> None:
    rng = np.random.default_rng(9)
    stored = normalise_rows(rng.normal(size=(30, 6)))
    base = normalise_rows(rng.normal(size=(20, 6)))
    batch = np.concatenate([base, base, base])  # every vector three times: exact ties
    sequential = NumpyIndex(6)
    sequential.add(np.arange(30), stored)
    batched = NumpyIndex(6)
    batched.add(np.arange(30), stored)
    search = BatchNeighbourSearch(batched, batch, k=4)
    for row in range(len(batch)):
        key = 1000 + row
        scores, keys = sequential.search(batch[row:row + 1], 5)
        expected = neighbour_order(
            [(int(k), float(s)) for k, s in zip(keys[0], scores[0], strict=True)
             if k >= 0 and k != key])[:4]
        got = search.neighbours(row, exclude=key)
        assert [k for k, _ in got] == [k for k, _ in expected]
        sequential.add(np.array([key]), batch[row:row + 1])
        search.added(row, key)


def test_near_equal_similarities_are_ties_broken_by_key() -> None:
    # one pair scored by two kernels can differ in the last bits
    noisy = 0.5 + TIE_TOLERANCE / 4
    assert neighbour_order([(9, 0.5), (3, noisy), (7, 0.9), (1, 0.4)]) == [
        (7, 0.9), (3, noisy), (9, 0.5), (1, 0.4)]
    assert [k for k, _ in neighbour_order([(9, noisy), (3, 0.5)])] == [3, 9]
    # a real difference still orders by similarity
    assert [k for k, _ in neighbour_order([(1, 0.5), (2, 0.5 + 10 * TIE_TOLERANCE)])] == [2, 1]
