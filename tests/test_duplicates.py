"""The near-duplicate index: datasketch's banding, our band tables."""

from __future__ import annotations

import numpy as np
import pytest

from cluster.text.duplicates import NUM_PERM, NearDuplicateIndex, estimated_jaccard, signature

BODY = ("The central bank raised its benchmark rate by half a point on Tuesday, "
        "the third increase this year, citing stubborn inflation in services and "
        "a labour market that has barely cooled since the spring.")


def _variant(rng: np.random.Generator, base: np.ndarray, keep: float) -> np.ndarray:
    """A signature agreeing with ``base`` in about ``keep`` of its positions."""
    fresh = rng.integers(0, 2**32, size=NUM_PERM, dtype=np.uint64).astype(np.uint32)
    return np.where(rng.random(NUM_PERM) < keep, base, fresh).astype(np.uint32)


def test_candidates_match_datasketch_lsh() -> None:
    from datasketch import MinHash, MinHashLSH

    scheme = MinHash(num_perm=NUM_PERM).scheme
    rng = np.random.default_rng(3)
    index = NearDuplicateIndex(0.8, window_days=2)
    reference = MinHashLSH(threshold=0.8, num_perm=NUM_PERM)
    bases = [rng.integers(0, 2**32, size=NUM_PERM, dtype=np.uint64).astype(np.uint32)
             for _ in range(20)]
    stored: dict[int, np.ndarray] = {}
    for key in range(400):
        values = _variant(rng, bases[key % 20], float(rng.uniform(0.5, 1.0)))
        stored[key] = values
        index.add(key, values, None)
        reference.insert(key, MinHash(num_perm=NUM_PERM, hashvalues=values, scheme=scheme),
                         check_duplication=False)
    found = 0
    for base in bases:
        query = _variant(rng, base, 0.9)
        expected = sorted(k for k in reference.query(MinHash(num_perm=NUM_PERM, hashvalues=query,
                                                             scheme=scheme))
                          if estimated_jaccard(stored[k], query) >= 0.8)
        assert index.originals(query) == expected
        found += len(expected)
    assert found > 20  # the comparison would pass vacuously otherwise


def test_removed_and_expired_articles_are_not_found() -> None:
    index = NearDuplicateIndex(0.8, window_days=1)
    values = signature("Rates rise again", BODY)
    assert values is not None
    index.add(1, values, 1_000.0)
    index.add(2, values.copy(), 50_000.0)
    index.add(3, values.copy(), None)  # undated: kept until removed
    assert index.originals(values) == [1, 2, 3]
    index.remove([2])
    assert index.originals(values) == [1, 3]
    index.expire(1_000.0 + 86_400.0 + 1.0)
    assert index.originals(values) == [3]
    assert len(index) == 1
    index.remove([3])
    assert index.originals(values) == []
    assert all(not table for table in index._tables)  # emptied bands are dropped


def test_re_adding_a_key_replaces_its_signature() -> None:
    index = NearDuplicateIndex(0.8, window_days=1)
    first = signature("Rates rise again", BODY)
    second = signature("Storm floods the coast", "Heavy rain " * 5 + "flooded " + BODY[::-1])
    assert first is not None and second is not None
    index.add(7, first, None)
    index.add(7, second, None)
    assert index.originals(first) == []
    assert index.originals(second) == [7]


@pytest.mark.parametrize("threshold", [0.5, 0.8, 0.95])
def test_a_copy_is_found_at_any_threshold(threshold: float) -> None:
    index = NearDuplicateIndex(threshold, window_days=1)
    values = signature("Rates rise again", BODY)
    assert values is not None
    index.add(5, values, None)
    assert index.originals(values.copy()) == [5]
