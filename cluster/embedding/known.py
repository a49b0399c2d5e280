"""An embedder whose vectors were computed elsewhere (the scale-out
deployment's embedding workers), looked up by text fingerprint; a text it has
no vector for (another model, another lead length) goes to ``fallback``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cluster.embedding.models import Embedder, text_fingerprint
from cluster.types import Matrix, Vector


class KnownVectors:
    def __init__(self, fallback: Embedder, vectors: Mapping[str, Vector]) -> None:
        self._fallback = fallback
        self._vectors = vectors
        self.computed_here = 0
        """Texts the fallback had to embed."""

    @property
    def model_name(self) -> str:
        return self._fallback.model_name

    @property
    def dimension(self) -> int:
        return self._fallback.dimension

    def embed(self, texts: Sequence[str]) -> Matrix:
        model = self.model_name
        known = [self._vectors.get(text_fingerprint(t, model)) for t in texts]
        missing = [t for t, v in zip(texts, known, strict=True) if v is None]
        extra = iter(self._fallback.embed(missing)) if missing else iter(())
        self.computed_here += len(missing)
        rows = [v if v is not None else next(extra) for v in known]
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.ascontiguousarray(np.stack(rows), dtype=np.float32)
