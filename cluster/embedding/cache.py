"""An embedder wrapper that remembers vectors by the hash of (model, text), in a
SQLite file outside the repository, so evaluation and tuning runs embed each
text once."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cluster.embedding.models import Embedder, text_fingerprint, vector_tag
from cluster.types import Matrix


def default_cache_dir() -> Path:
    from cluster.settings import cache_home

    return cache_home() / "newsclusters"


class CachingEmbedder:
    """Delegates to ``inner`` for texts it has not seen."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner = inner
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, v BLOB)")
        # one cache holds several models' vectors: each model's dimension, so
        # that asking for it never loads a model whose vectors are all cached
        self._db.execute("CREATE TABLE IF NOT EXISTS models (tag TEXT PRIMARY KEY, "
                         "dimension INTEGER NOT NULL)")
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    @property
    def vector_tag(self) -> str:
        return vector_tag(self.inner)

    @property
    def dimension(self) -> int:
        row = self._db.execute("SELECT dimension FROM models WHERE tag = ?",
                               (vector_tag(self.inner),)).fetchone()
        return int(row[0]) if row else self.inner.dimension

    def embed(self, texts: Sequence[str]) -> Matrix:
        tag = vector_tag(self.inner)
        keys = [text_fingerprint(t, tag) for t in texts]
        found: dict[str, bytes] = {}
        with self._lock:
            unique = sorted(set(keys))
            for start in range(0, len(unique), 500):
                chunk = unique[start:start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(self._db.execute(
                    f"SELECT key, v FROM vectors WHERE key IN ({marks})", chunk).fetchall())
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True)
                          if k not in found}.items())
        self.hits += len(texts) - sum(1 for k in keys if k not in found)
        if missing:
            vectors = self.inner.embed([t for _, t in missing])
            self.misses += len(missing)
            with self._lock:
                self._db.execute("BEGIN")
                for (key, _), vector in zip(missing, vectors, strict=True):
                    blob = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
                    found[key] = blob
                    self._db.execute("INSERT OR REPLACE INTO vectors VALUES (?, ?)", (key, blob))
                self._db.execute("INSERT OR REPLACE INTO models VALUES (?, ?)",
                                 (tag, int(vectors.shape[1])))
                self._db.execute("COMMIT")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([np.frombuffer(found[k], dtype=np.float32) for k in keys])

    def close(self) -> None:
        self._db.close()
