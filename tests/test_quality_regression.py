"""Clustering quality must not regress: evaluate() with the shipped settings
and the real model on slices of the shared development files (skipped where
../shared/data is absent). Floors sit a little under the measured values."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.embedding.cache import CachingEmbedder
from cluster.embedding.models import SentenceTransformerEmbedder
from cluster.evaluation.replay import CLUSTERER, evaluate_items, labelled_items
from tests.conftest import SHARED_DATA, make_settings

pytestmark = pytest.mark.model

# file, articles replayed, BCubed F1 floor (measured value in the comment)
SLICES = [
    ("allsides_dev.jsonl", 240, 0.93),  # measured 0.960
    ("ecbplus_dev.jsonl", 160, 0.89),  # measured 0.922 (0.942 with the plain split cosine)
    ("uci_headlines.jsonl", 800, 0.78),  # measured 0.810
]


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> CachingEmbedder:
    cache = tmp_path_factory.mktemp("embedding-cache") / "embeddings.sqlite3"
    return CachingEmbedder(SentenceTransformerEmbedder("all-MiniLM-L6-v2"), cache)


@pytest.mark.parametrize(("name", "limit", "floor"), SLICES)
def test_bcubed_f1_stays_above_its_floor(
    name: str, limit: int, floor: float, embedder: CachingEmbedder, tmp_path: Path
) -> None:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    items = labelled_items(path, limit)
    settings = make_settings(tmp_path, embedder="sentence-transformers")
    evaluation = evaluate_items(name, items, settings, embedder, with_bertopic=False)
    ours = evaluation.result(CLUSTERER)
    assert ours is not None
    print(f"{name}[:{limit}] BCubed F1 {ours.scores.bcubed_f1:.4f}")
    assert ours.scores.bcubed_f1 >= floor
