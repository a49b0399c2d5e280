"""Near-duplicate text (wire copies, syndication, republishing) by MinHash LSH.

An article's fingerprint is the MinHash (datasketch, 64 permutations) of its
word 3-shingles over the title and the first 2,000 characters of the body.
Locality-sensitive hashing finds stored articles whose estimated Jaccard
similarity may reach the threshold; the signatures confirm it. Texts with
fewer than ``MIN_SHINGLES`` shingles (bare headlines) are left to exact
matching: on a dozen words a single edit moves Jaccard by a tenth, so
"near" stops meaning "copy".

Copies are published within days of each other, so the LSH holds only the
articles of the last ``window_days`` of the stream (undated ones always):
memory stays bounded however large the store grows.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from cluster.types import ArticleKey

NUM_PERM = 64
SHINGLE_WORDS = 3
MIN_SHINGLES = 10
BODY_CHARS = 2000
SECONDS_PER_DAY = 86_400.0

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def shingles(title: str, text: str) -> list[bytes]:
    words = _WORD.findall(f"{title} {text[:BODY_CHARS]}".lower())
    return [" ".join(words[i:i + SHINGLE_WORDS]).encode()
            for i in range(len(words) - SHINGLE_WORDS + 1)]


@lru_cache(maxsize=1)
def _prototype() -> Any:
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=1)


def signature(title: str, text: str) -> np.ndarray | None:
    """The MinHash values of the text (uint32[NUM_PERM]), or None for a text too
    short to compare this way."""
    from datasketch import MinHash

    pieces = shingles(title, text)
    if len(set(pieces)) < MIN_SHINGLES:
        return None
    prototype = _prototype()
    minhash = MinHash(num_perm=NUM_PERM, permutations=prototype.permutations,
                      scheme=prototype.scheme)
    minhash.update_batch(pieces)
    return np.asarray(minhash.hashvalues, dtype=np.uint32).copy()


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a == b)) / len(a)


class NearDuplicateIndex:
    """The recent articles' signatures with an LSH over them.

    The banding is datasketch's (``MinHashLSH`` picks the bands and rows that
    balance misses and false candidates for the threshold), but the band
    tables are plain dicts keyed by the band's bytes: datasketch builds a
    ``MinHash`` object (parsing its permutations) for every insert and query,
    which cost more than the lookup itself on the ingest path."""

    def __init__(self, threshold: float, window_days: float) -> None:
        from datasketch import MinHashLSH

        self.threshold = threshold
        self.window = window_days * SECONDS_PER_DAY
        banding = MinHashLSH(threshold=min(threshold, 0.99), num_perm=NUM_PERM)
        self._bands: list[tuple[int, int]] = [(int(a), int(b)) for a, b in banding.hashranges]
        self._tables: list[dict[bytes, set[int]]] = [{} for _ in self._bands]
        self._signatures: dict[int, np.ndarray] = {}
        self._expiry: list[tuple[float, int]] = []
        self._times: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self._signatures)

    def _band_keys(self, values: np.ndarray) -> list[bytes]:
        return [values[start:end].tobytes() for start, end in self._bands]

    def originals(self, values: np.ndarray) -> list[ArticleKey]:
        """Stored keys whose text is a near copy of ``values``, oldest first."""
        if not self._signatures:
            return []
        found: set[int] = set()
        for table, band in zip(self._tables, self._band_keys(values), strict=True):
            keys = table.get(band)
            if keys:
                found.update(keys)
        return [ArticleKey(k) for k in sorted(found)
                if estimated_jaccard(self._signatures[k], values) >= self.threshold]

    def add(self, key: int, values: np.ndarray, timestamp: float | None) -> None:
        if key in self._signatures:
            self.remove([key])
        self._signatures[key] = values
        for table, band in zip(self._tables, self._band_keys(values), strict=True):
            table.setdefault(band, set()).add(key)
        if timestamp is not None:
            self._times[key] = timestamp
            heapq.heappush(self._expiry, (timestamp, key))

    def remove(self, keys: Iterable[int]) -> None:
        for key in keys:
            key = int(key)
            self._times.pop(key, None)
            values = self._signatures.pop(key, None)
            if values is None:
                continue
            for table, band in zip(self._tables, self._band_keys(values), strict=True):
                members = table.get(band)
                if members is not None:
                    members.discard(key)
                    if not members:
                        del table[band]

    def expire(self, now: float | None) -> None:
        """Forget articles published more than the window before ``now``."""
        if now is None:
            return
        horizon = now - self.window
        while self._expiry and self._expiry[0][0] < horizon:
            stamp, key = heapq.heappop(self._expiry)
            if self._times.get(key) == stamp:  # not re-added since with another date
                self.remove([key])

    def load(self, rows: Sequence[tuple[int, float | None, bytes]]) -> None:
        for key, timestamp, blob in rows:
            self.add(key, np.frombuffer(blob, dtype=np.uint32).copy(), timestamp)
