"""A reader's index (a mapped snapshot, the segments published after it,
and a tail) answers as an exact index holding the same vectors would,
through any mix of adds, removes and replacements of keys the snapshot or a
segment holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cluster.index.backends import FaissFlatIndex, FaissIvfIndex, NumpyIndex, VectorIndex
from cluster.index.replica import ReplicaIndex
from tests.test_index_contract import DIM, clustered_vectors


def mapped_snapshot(tmp_path: Path, keys: np.ndarray, vectors: np.ndarray,
                    name: str = "snapshot.bin") -> FaissFlatIndex:
    built = FaissFlatIndex(DIM)
    built.add(keys, vectors)
    built.write(tmp_path / name)
    return FaissFlatIndex.read(tmp_path / name, DIM, mapped=True)


def test_a_replica_over_a_full_snapshot_agrees_with_the_reference(tmp_path: Path) -> None:
    vectors = clustered_vectors(400, seed=7)
    keys = np.arange(400, dtype=np.int64)
    replica = ReplicaIndex(mapped_snapshot(tmp_path, keys[:300], vectors[:300]))
    reference = NumpyIndex(DIM)
    reference.add(keys[:300], vectors[:300])
    rng = np.random.default_rng(3)
    for step in range(30):  # the log's changes, in small batches
        added = keys[300 + 3 * step: 303 + 3 * step]
        removed = rng.choice(300, size=2, replace=False).astype(np.int64)
        replaced = rng.choice(300, size=1).astype(np.int64)
        for index in (replica, reference):
            index.remove(np.concatenate([removed, replaced]))
            index.add(replaced, vectors[(replaced + 150) % 400])
            if added.size:
                index.add(added, vectors[added])
        _answers_as_the_reference(replica, reference, keys, seed=8)


def test_a_mapped_ivf_snapshot_serves_as_the_sealed_part(tmp_path: Path) -> None:
    vectors = clustered_vectors(1000, seed=9)
    ivf = FaissIvfIndex.trained(DIM, vectors, 16, 16)
    ivf.add(np.arange(1000, dtype=np.int64), vectors)
    ivf.write(tmp_path / "ivf.bin")
    replica = ReplicaIndex(FaissIvfIndex.read(tmp_path / "ivf.bin", DIM, 16, mapped=True))
    replica.remove(np.array([0], dtype=np.int64))
    _, found = replica.search(vectors[:1], 5)
    assert 0 not in found[0].tolist()
    assert len(replica) == 999


def test_segments_after_a_snapshot_agree_with_the_reference(tmp_path: Path) -> None:
    vectors = clustered_vectors(600, seed=11)
    keys = np.arange(600, dtype=np.int64)
    reference = NumpyIndex(DIM)
    reference.add(keys[:300], vectors[:300])
    base = mapped_snapshot(tmp_path, keys[:300], vectors[:300])
    segments = []
    rng = np.random.default_rng(5)
    live = list(range(300))
    for number, fresh in enumerate((keys[300:400], keys[400:450])):
        removed = rng.choice(live, size=10, replace=False).astype(np.int64)
        replaced = rng.choice(sorted(set(live) - set(removed.tolist())), size=10,
                              replace=False).astype(np.int64)
        new_vectors = vectors[(replaced + 300 + 100 * number) % 600]
        reference.remove(np.concatenate([removed, replaced]))
        reference.add(replaced, new_vectors)
        reference.add(fresh, vectors[fresh])
        held = np.concatenate([replaced, fresh])
        segment = mapped_snapshot(tmp_path, held, np.concatenate([new_vectors, vectors[fresh]]),
                                  name=f"segment-{number}.bin")
        segments.append((segment, np.concatenate([removed, held])))
        live = sorted((set(live) - set(removed.tolist())) | set(fresh.tolist()))
    replica = ReplicaIndex.of_segments(base, segments)
    assert replica.sealed_parts == 3 and len(replica) == len(reference)
    # and the tail past them: removes of keys in the snapshot and in a segment
    tail_removed = np.array([live[0], 310, 420], dtype=np.int64)
    for index in (replica, reference):
        index.remove(tail_removed)
        index.add(keys[450:470], vectors[450:470])
    _answers_as_the_reference(replica, reference, keys, seed=12)


def _answers_as_the_reference(replica: ReplicaIndex, reference: VectorIndex, keys: np.ndarray,
                              seed: int) -> None:
    """The same size, searches (ties may swap) and lookups as the reference."""
    assert len(replica) == len(reference)
    queries = clustered_vectors(25, seed=seed)
    for k in (1, 10, 50):
        got, want = replica.search(queries, k), reference.search(queries, k)
        np.testing.assert_allclose(got[0], want[0], atol=1e-5)
        assert (got[1] == want[1]).mean() > 0.99  # ties may swap
    probe = np.concatenate([keys, np.array([9999], dtype=np.int64)])
    got_vectors, got_held = replica.lookup(probe)
    want_vectors, want_held = reference.lookup(probe)
    assert got_held.tolist() == want_held.tolist()
    np.testing.assert_allclose(got_vectors, want_vectors, atol=1e-6)
