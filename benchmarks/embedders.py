"""Embedding backends side by side on the same texts (python -m scripts.bench
--embedders): documents per second, and how far each backend's vectors are
from the float32 PyTorch ones, by cosine and by the overlap of each text's
ten nearest neighbours. The clustering side of the comparison is
``newsclusters evaluate`` with ``NEWSCLUSTERS_EMBED_PRECISION`` set.

Rounds alternate between the backends, so a machine that gets busier or
quieter during the run affects them alike."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cluster.embedding.models import Precision, SentenceTransformerEmbedder
from cluster.types import Matrix

REFERENCE: Precision = "float32"


@dataclass(frozen=True)
class BackendRow:
    backend: str
    texts: int
    docs_per_s: float
    """Median over the rounds."""
    rounds: list[float]
    cosine_mean: float
    cosine_min: float
    top10_overlap: float
    """Mean share of each text's 10 nearest neighbours (by the reference
    vectors) that the backend's vectors also rank in the top 10."""


def _top10(vectors: Matrix) -> np.ndarray:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    k = min(10, len(vectors) - 1)
    return np.argpartition(-sims, k - 1, axis=1)[:, :k]


def compare_backends(
    model: str, texts: Sequence[str], precisions: Sequence[Precision] = ("float32", "bfloat16"),
    rounds: int = 2, batch_size: int = 32, max_seq_length: int = 256,
) -> list[BackendRow]:
    embedders = {p: SentenceTransformerEmbedder(model, batch_size, max_seq_length, p)
                 for p in dict.fromkeys([REFERENCE, *precisions])}
    for embedder in embedders.values():
        embedder.embed(list(texts[:batch_size]))  # load and warm up before timing
    speeds: dict[str, list[float]] = {p: [] for p in embedders}
    vectors: dict[str, Matrix] = {}
    for _ in range(rounds):
        for precision, embedder in embedders.items():
            started = time.perf_counter()
            vectors[precision] = embedder.embed(list(texts))
            speeds[precision].append(len(texts) / (time.perf_counter() - started))
    reference = vectors[REFERENCE]
    truth = _top10(reference)
    rows = []
    for precision in embedders:
        found = vectors[precision]
        cosines = np.sum(reference * found, axis=1)
        mine = _top10(found)
        overlap = float(np.mean([len(set(a) & set(b)) / len(a)
                                 for a, b in zip(truth.tolist(), mine.tolist(), strict=True)]))
        rows.append(BackendRow(
            backend=f"pytorch {precision}", texts=len(texts),
            docs_per_s=round(float(np.median(speeds[precision])), 1),
            rounds=[round(s, 1) for s in speeds[precision]],
            cosine_mean=round(float(np.mean(cosines)), 5),
            cosine_min=round(float(np.min(cosines)), 5), top10_overlap=round(overlap, 4)))
    return rows
