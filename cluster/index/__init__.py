"""Vector indexes keyed by article key: the ``VectorIndex`` interface, FAISS
(exact and IVF) and the exact NumPy reference; which layout a store gets;
snapshots on disk; searching a whole batch at once."""

from cluster.index.backends import NumpyIndex, VectorIndex, create_index

__all__ = ["NumpyIndex", "VectorIndex", "create_index"]
