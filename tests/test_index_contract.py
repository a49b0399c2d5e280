"""Every VectorIndex backend must agree with the exact NumPy reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cluster.embedding.models import normalise_rows
from cluster.index.backends import (
    FaissFlatIndex,
    FaissIvfIndex,
    NumpyIndex,
    VectorIndex,
    create_index,
    read_index,
)
from cluster.index.replica import ReadOnlyIndex, ReplicaIndex

BACKENDS = ["faiss-flat", "faiss-ivf", "numpy", "replica", "replica-of-segments"]
DIM = 32
IVF_LISTS = 16


def clustered_vectors(n: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few centres: structure like real embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, DIM))
    picks = rng.integers(0, 8, size=n)
    return normalise_rows(centres[picks] + 0.4 * rng.normal(size=(n, DIM)))


@pytest.fixture(params=BACKENDS)
def index(request: pytest.FixtureRequest, tmp_path: Path) -> VectorIndex:
    if request.param == "faiss-ivf":
        # every cell probed: only the 8-bit quantisation separates it from exact
        return FaissIvfIndex.trained(DIM, clustered_vectors(800), IVF_LISTS, IVF_LISTS)
    if request.param == "replica":
        # a reader's index: a mapped snapshot (empty here; tests/test_replica.py
        # covers a full one) and the tail that takes every change
        FaissFlatIndex(DIM).write(tmp_path / "sealed.bin")
        return ReplicaIndex(FaissFlatIndex.read(tmp_path / "sealed.bin", DIM, mapped=True))
    if request.param == "replica-of-segments":
        # the same, with a segment after the snapshot (tests/test_replica.py
        # covers full ones)
        FaissFlatIndex(DIM).write(tmp_path / "sealed.bin")
        FaissFlatIndex(DIM).write(tmp_path / "segment.bin")
        return ReplicaIndex.of_segments(
            FaissFlatIndex.read(tmp_path / "sealed.bin", DIM, mapped=True),
            [(FaissFlatIndex.read(tmp_path / "segment.bin", DIM, mapped=True),
              np.zeros(0, dtype=np.int64))])
    return create_index(request.param, DIM)


def tolerance(index: VectorIndex) -> float:
    """Scores of quantised vectors are within a few thousandths of exact."""
    return 5e-3 if index.kind == "faiss-ivf" else 1e-5


def reference(vectors: np.ndarray, keys: np.ndarray) -> NumpyIndex:
    ref = NumpyIndex(DIM)
    ref.add(keys, vectors)
    return ref


def test_search_matches_exact_reference(index: VectorIndex) -> None:
    vectors = clustered_vectors(300)
    keys = np.arange(1000, 1300, dtype=np.int64)
    index.add(keys, vectors)
    queries = clustered_vectors(20, seed=1)
    scores, found = index.search(queries, 10)
    ref_scores, ref_found = reference(vectors, keys).search(queries, 10)
    np.testing.assert_allclose(scores, ref_scores, atol=tolerance(index))
    if index.kind == "faiss-ivf":  # quantised: near ties may swap places
        same = [len(set(a) & set(b)) for a, b in zip(found.tolist(), ref_found.tolist(),
                                                     strict=True)]
        assert sum(same) / found.size > 0.95
    else:  # keys agree wherever scores are not tied
        assert (found == ref_found).mean() > 0.99
    assert len(index) == 300


def test_remove_and_replace(index: VectorIndex) -> None:
    vectors = clustered_vectors(50)
    keys = np.arange(50, dtype=np.int64)
    index.add(keys, vectors)
    assert index.remove(np.array([3, 4, 999], dtype=np.int64)) == 2
    assert len(index) == 48
    _, found = index.search(vectors[3:4], 48)
    assert 3 not in found and 4 not in found
    index.remove(np.array([5], dtype=np.int64))  # replace key 5's vector
    index.add(np.array([5], dtype=np.int64), vectors[40:41])
    assert len(index) == 48
    scores, found = index.search(vectors[40:41], 2)
    assert set(found[0].tolist()) == {5, 40}
    np.testing.assert_allclose(scores[0], [1.0, 1.0], atol=tolerance(index))


def test_lookup_gives_each_held_key_its_vector_and_marks_the_rest(index: VectorIndex) -> None:
    assert index.lookup(np.array([1], dtype=np.int64))[1].tolist() == [False]
    vectors = clustered_vectors(60)
    keys = np.arange(100, 160, dtype=np.int64)
    index.add(keys, vectors)
    index.remove(np.array([105], dtype=np.int64))
    wanted = np.array([130, 105, 7, 100, 159, 130], dtype=np.int64)
    found, held = index.lookup(wanted)
    assert held.tolist() == [True, False, False, True, True, True]
    assert found.shape == (6, DIM) and found.dtype == np.float32
    # exact backends give the very vectors; IVF decodes its 8-bit codes
    np.testing.assert_allclose(found[held], vectors[wanted[held] - 100],
                               atol=0.02 if index.kind == "faiss-ivf" else 0.0)
    assert not found[~held].any()
    empty, none_held = index.lookup(np.zeros(0, dtype=np.int64))
    assert empty.shape == (0, DIM) and none_held.size == 0


def test_empty_index_and_short_results(index: VectorIndex) -> None:
    _, found = index.search(clustered_vectors(2), 5)
    assert found.shape == (2, 5) and (found == -1).all()
    index.add(np.array([7], dtype=np.int64), clustered_vectors(1))
    _, found = index.search(clustered_vectors(1), 3)
    assert found[0, 0] == 7 and (found[0, 1:] == -1).all()


def test_wrong_dimension_is_refused(index: VectorIndex) -> None:
    with pytest.raises(ValueError, match="dimension"):
        index.add(np.array([1], dtype=np.int64), np.zeros((1, DIM + 1), dtype=np.float32))


def test_write_then_read_gives_identical_results(index: VectorIndex, tmp_path: Path) -> None:
    vectors = clustered_vectors(200)
    index.add(np.arange(200, dtype=np.int64), vectors)
    index.remove(np.array([10, 11], dtype=np.int64))
    path = tmp_path / "index.bin"
    if index.kind == "replica":  # only the writer snapshots
        with pytest.raises(ReadOnlyIndex):
            index.write(path)
        return
    index.write(path)
    loaded = read_index(index.kind, path, DIM, nprobe=IVF_LISTS)
    queries = clustered_vectors(10, seed=3)
    before, after = index.search(queries, 10), loaded.search(queries, 10)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_allclose(before[0], after[0])


def test_faiss_read_refuses_other_dimension(tmp_path: Path) -> None:
    index = FaissFlatIndex(DIM)
    index.add(np.array([1], dtype=np.int64), clustered_vectors(1))
    index.write(tmp_path / "i.bin")
    with pytest.raises(ValueError, match="dimension"):
        FaissFlatIndex.read(tmp_path / "i.bin", DIM * 2)


def test_ivf_with_few_cells_probed_keeps_most_true_neighbours() -> None:
    vectors = clustered_vectors(3000, seed=4)
    keys = np.arange(3000, dtype=np.int64)
    ivf = FaissIvfIndex.trained(DIM, vectors[::3], 32, nprobe=8)
    ivf.add(keys, vectors)
    queries = clustered_vectors(50, seed=5)
    from cluster.index.layout import recall_at

    assert recall_at(ivf, reference(vectors, keys), queries, 10) >= 0.9
