"""Vector indexes: exact inner-product search over L2-normalised vectors, keyed
by the store's integer article keys.

`FaissFlatIndex` is the default backend; `NumpyIndex` is the exact reference
that the contract tests check it against (and a dependency-free fallback).
Both write themselves to one file; `cluster.index.snapshot` makes that file part of
an atomic, manifest-checked snapshot.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from cluster.types import Matrix

KeyArray = NDArray[np.int64]
SearchResult = tuple[NDArray[np.float32], KeyArray]
"""(scores, keys), each of shape (n_queries, k); missing slots have key -1."""


class VectorIndex(Protocol):
    """What the service needs of a vector index."""

    kind: str

    @property
    def dimension(self) -> int: ...

    def __len__(self) -> int: ...

    def add(self, keys: KeyArray, vectors: Matrix) -> None:
        """Insert vectors under keys that are not in the index (to replace a
        vector, ``remove`` its key first)."""

    def remove(self, keys: KeyArray) -> int:
        """Delete keys; unknown keys are ignored. Returns how many were removed."""

    def search(self, queries: Matrix, k: int) -> SearchResult:
        """The k highest inner products per query, best first."""

    def lookup(self, keys: KeyArray) -> tuple[Matrix, NDArray[np.bool_]]:
        """The index's own copy of these keys' vectors, in memory (exact in an
        exact index, decoded from the 8-bit codes in IVF; zeros for keys it
        does not hold), and which keys it holds."""

    def write(self, path: Path) -> None: ...


def _as_keys(keys: Any) -> KeyArray:
    return np.ascontiguousarray(np.asarray(keys, dtype=np.int64).reshape(-1))


def _as_matrix(vectors: Any, dimension: int) -> Matrix:
    matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.shape[1] != dimension:
        raise ValueError(f"vectors have dimension {matrix.shape[1]}, index has {dimension}")
    return matrix


BLAS_FROM_QUERIES = 20
"""Exhaustive FAISS searches of this many queries or more use BLAS."""


class _FaissIndex:
    """What the FAISS indexes share: keys, one lock, search and writing."""

    def __init__(self, dimension: int, index: Any) -> None:
        import faiss

        # FAISS 1.15 searches exhaustively with BLAS only once queries x
        # dimension reach 128,000 (334 queries at 384 dimensions), a crossover
        # measured on many-core machines; on two cores its own loop is 5x
        # slower per query than BLAS already at 64 queries (2.2 against 0.43
        # ms on 40,000 vectors). BLAS again from 20 queries, FAISS's old line.
        faiss.cvar.distance_compute_blas_threshold = BLAS_FROM_QUERIES * dimension
        self._dimension = dimension
        self._index = index
        self._lock = threading.RLock()
        self._threads = faiss.omp_get_max_threads()

    @property
    def dimension(self) -> int:
        return self._dimension

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, keys: KeyArray, vectors: Matrix) -> None:
        keys = _as_keys(keys)
        if keys.size == 0:
            return
        matrix = _as_matrix(vectors, self._dimension)
        with self._lock:
            self._index.add_with_ids(matrix, keys)

    def search(self, queries: Matrix, k: int) -> SearchResult:
        import faiss

        matrix = _as_matrix(queries, self._dimension)
        with self._lock:
            if len(self) == 0 or k <= 0:
                return (np.zeros((len(matrix), max(k, 0)), dtype=np.float32),
                        np.full((len(matrix), max(k, 0)), -1, dtype=np.int64))
            # A single query is faster on one thread: waking FAISS's OpenMP pool
            # costs more than it saves at that size (measured: 3 ms vs 0.4 ms per
            # query on 6k vectors with the other core busy). Batches use them all.
            faiss.omp_set_num_threads(1 if len(matrix) < 8 else self._threads)
            scores, keys = self._index.search(matrix, k)
        return scores.astype(np.float32), keys.astype(np.int64)

    def lookup(self, keys: KeyArray) -> tuple[Matrix, NDArray[np.bool_]]:
        keys = _as_keys(keys)
        vectors = np.zeros((keys.size, self._dimension), dtype=np.float32)
        held = np.ones(keys.size, dtype=np.bool_)
        if keys.size == 0:
            return vectors, held
        with self._lock:
            try:
                vectors[:] = self._index.reconstruct_batch(keys)
            except RuntimeError:  # a key it does not hold: one at a time
                for row, key in enumerate(keys.tolist()):
                    try:
                        vectors[row] = self._index.reconstruct(key)
                    except RuntimeError:
                        held[row] = False
        return vectors, held

    def write(self, path: Path) -> None:
        import faiss

        with self._lock:
            faiss.write_index(self._index, str(path))


class FaissFlatIndex(_FaissIndex):
    """Exact inner product (``IndexFlatIP``) behind ``IndexIDMap2``, so that
    removal by key works and results carry the store's keys."""

    kind = "faiss-flat"

    def __init__(self, dimension: int, index: Any = None) -> None:
        import faiss

        super().__init__(dimension, index if index is not None else faiss.IndexIDMap2(
            faiss.IndexFlatIP(dimension)))

    def _remove_locked(self, keys: KeyArray) -> int:
        import faiss

        return int(self._index.remove_ids(faiss.IDSelectorBatch(keys)))

    def remove(self, keys: KeyArray) -> int:
        keys = _as_keys(keys)
        if keys.size == 0:
            return 0
        with self._lock:
            return self._remove_locked(keys)

    @classmethod
    def read(cls, path: Path, dimension: int, mapped: bool = False) -> FaissFlatIndex:
        index = _read_faiss(path, mapped)
        if index.d != dimension:
            raise ValueError(f"index file has dimension {index.d}, expected {dimension}")
        return cls(dimension, index)


IVF_SAMPLE_PER_LIST = 40
"""Training vectors per IVF cell (FAISS warns below 39)."""


def ivf_lists(count: int) -> int:
    """Cells for an IVF index over ``count`` vectors: about sqrt(count), so a
    query's nprobe cells hold a small, slowly growing share of the corpus."""
    return int(min(4096, max(64, round(count ** 0.5))))


class FaissIvfIndex(_FaissIndex):
    """Approximate search for large stores: an inverted file over k-means cells
    (IVF) holding 8-bit scalar-quantised vectors (SQ8: 384 bytes per 384-d
    vector instead of 1,536), searching the ``nprobe`` cells nearest to the
    query. One quantisation range for all dimensions (``QT_8bit_uniform``):
    on the packaged model's vectors, training on 1,000 and scoring 7,000
    others, a vector's score against itself was off by 0.0005 on average and
    0.002 at most, where per-dimension ranges clipped new vectors (0.036 at
    most). A hash-table direct map makes removal by key a lookup rather than a
    scan of every cell."""

    kind = "faiss-ivf"

    def __init__(self, dimension: int, index: Any, nprobe: int) -> None:
        super().__init__(dimension, index)
        self._index.nprobe = nprobe

    @classmethod
    def trained(cls, dimension: int, sample: Matrix, lists: int, nprobe: int) -> FaissIvfIndex:
        """An empty index whose cells are k-means centres of ``sample``."""
        import faiss

        matrix = _as_matrix(sample, dimension)
        lists = max(1, min(lists, len(matrix) // 4))
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dimension, lists, faiss.ScalarQuantizer.QT_8bit_uniform,
            faiss.METRIC_INNER_PRODUCT)
        index.cp.min_points_per_centroid = 1  # small samples train without warnings
        index.train(matrix)
        index.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
        return cls(dimension, index, nprobe)

    @property
    def lists(self) -> int:
        return int(self._index.nlist)

    def set_nprobe(self, nprobe: int) -> None:
        with self._lock:
            self._index.nprobe = nprobe

    def remove(self, keys: KeyArray) -> int:
        import faiss

        keys = _as_keys(keys)
        if keys.size == 0:
            return 0
        with self._lock:
            # the hash-table direct map removes only through an array selector
            selector = faiss.IDSelectorArray(keys.size, faiss.swig_ptr(keys))
            return int(self._index.remove_ids(selector))

    @classmethod
    def read(cls, path: Path, dimension: int, nprobe: int, mapped: bool = False) -> FaissIvfIndex:
        index = _read_faiss(path, mapped)
        if index.d != dimension:
            raise ValueError(f"index file has dimension {index.d}, expected {dimension}")
        return cls(dimension, index, nprobe)


def _read_faiss(path: Path, mapped: bool) -> Any:
    """A FAISS index file, read into memory or, with ``mapped``, memory-mapped:
    its vectors (flat codes, IVF lists) stay in the file's pages, which the
    operating system shares between every process that maps the file. A
    mapped index must never be changed (see cluster/index/replica.py)."""
    import faiss

    return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC if mapped else 0)


def flat_contents(index: FaissFlatIndex) -> tuple[KeyArray, Matrix]:
    """Every (key, vector) of an exact index, for converting it to IVF."""
    import faiss

    with index._lock:
        inner = index._index
        count = int(inner.ntotal)
        keys = faiss.vector_to_array(inner.id_map).astype(np.int64)
        flat: Any = faiss.downcast_index(inner.index)
        vectors = faiss.vector_to_array(flat.codes).view(np.float32).reshape(count, -1)
    return keys, vectors.copy()


class NumpyIndex:
    """Exact search by a matrix product: the reference implementation."""

    kind = "numpy"

    def __init__(self, dimension: int) -> None:
        self._dimension = dimension
        self._keys = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, dimension), dtype=np.float32)
        self._lock = threading.RLock()

    @property
    def dimension(self) -> int:
        return self._dimension

    def __len__(self) -> int:
        return int(self._keys.size)

    def add(self, keys: KeyArray, vectors: Matrix) -> None:
        keys = _as_keys(keys)
        matrix = _as_matrix(vectors, self._dimension)
        with self._lock:
            if np.isin(keys, self._keys).any():
                raise ValueError("key already in the index; remove it first")
            self._keys = np.concatenate([self._keys, keys])
            self._vectors = np.concatenate([self._vectors, matrix])

    def remove(self, keys: KeyArray) -> int:
        with self._lock:
            keep = ~np.isin(self._keys, _as_keys(keys))
            removed = int(self._keys.size - keep.sum())
            self._keys, self._vectors = self._keys[keep], self._vectors[keep]
            return removed

    def search(self, queries: Matrix, k: int) -> SearchResult:
        matrix = _as_matrix(queries, self._dimension)
        k = max(k, 0)
        scores_out = np.full((len(matrix), k), -np.inf, dtype=np.float32)
        keys_out = np.full((len(matrix), k), -1, dtype=np.int64)
        with self._lock:
            if self._keys.size == 0:
                return np.zeros_like(scores_out), keys_out
            scores = matrix @ self._vectors.T
            keys = self._keys
        take = min(k, keys.size)
        # Ties are broken by key so the reference is deterministic.
        order = np.lexsort((np.broadcast_to(keys, scores.shape), -scores), axis=1)[:, :take]
        scores_out[:, :take] = np.take_along_axis(scores, order, axis=1)
        keys_out[:, :take] = keys[order]
        scores_out[keys_out == -1] = 0.0
        return scores_out, keys_out

    def lookup(self, keys: KeyArray) -> tuple[Matrix, NDArray[np.bool_]]:
        keys = _as_keys(keys)
        with self._lock:
            order = np.argsort(self._keys, kind="stable")
            sorted_keys = self._keys[order]
            at = np.searchsorted(sorted_keys, keys)
            at = np.minimum(at, max(sorted_keys.size - 1, 0))
            held = (sorted_keys[at] == keys) if sorted_keys.size else np.zeros(keys.size, bool)
            vectors = np.zeros((keys.size, self._dimension), dtype=np.float32)
            vectors[held] = self._vectors[order[at[held]]]
        return vectors, held

    def write(self, path: Path) -> None:
        with self._lock, open(path, "wb") as handle:
            np.savez(handle, keys=self._keys, vectors=self._vectors)

    @classmethod
    def read(cls, path: Path, dimension: int) -> NumpyIndex:
        with np.load(path, allow_pickle=False) as data:
            index = cls(dimension)
            index.add(data["keys"], data["vectors"].reshape(-1, dimension))
        return index


def create_index(kind: str, dimension: int) -> VectorIndex:
    """An empty index; "auto" starts exact (an IVF index needs training data)."""
    if kind in ("faiss-flat", "auto", "faiss-ivf"):
        return FaissFlatIndex(dimension)
    if kind == "numpy":
        return NumpyIndex(dimension)
    raise ValueError(f"unknown index backend {kind!r}")


def read_index(kind: str, path: Path, dimension: int, nprobe: int = 32,
               mapped: bool = False) -> VectorIndex:
    """An index file; ``mapped`` maps FAISS files instead of reading them
    (the reference backend is always read)."""
    if kind == "faiss-flat":
        return FaissFlatIndex.read(path, dimension, mapped)
    if kind == "faiss-ivf":
        return FaissIvfIndex.read(path, dimension, nprobe, mapped)
    if kind == "numpy":
        return NumpyIndex.read(path, dimension)
    raise ValueError(f"unknown index backend {kind!r}")
