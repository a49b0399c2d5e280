"""Embedding backends: which number format runs where, and what a cached vector
is keyed by. The model itself is exercised in test_integration_model.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from cluster.embedding.cache import CachingEmbedder
from cluster.embedding.models import (
    HashingEmbedder,
    SentenceTransformerEmbedder,
    cpu_flags,
    create_embedder,
    resolve_precision,
    vector_tag,
)
from cluster.types import Matrix
from tests.conftest import make_settings


def test_auto_precision_is_bfloat16_only_with_native_bf16() -> None:
    assert resolve_precision("auto", frozenset({"avx2", "avx512f", "avx512_bf16"})) == "bfloat16"
    assert resolve_precision("auto", frozenset({"avx2", "amx_bf16"})) == "bfloat16"
    # AVX512 without its bf16 extension still emulates bf16: slower than float32
    assert resolve_precision("auto", frozenset({"avx2", "avx512f", "avx512_vnni"})) == "float32"
    assert resolve_precision("auto", frozenset()) == "float32"


def test_explicit_precision_is_kept_whatever_the_cpu() -> None:
    assert resolve_precision("float32", frozenset({"avx512_bf16"})) == "float32"
    assert resolve_precision("bfloat16", frozenset()) == "bfloat16"


def test_cpu_flags_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU\n"
                       "flags\t\t: fpu sse2 avx2 avx512_bf16\n\nprocessor\t: 1\n")
    assert cpu_flags(cpuinfo) == frozenset({"fpu", "sse2", "avx2", "avx512_bf16"})
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_settings_choose_the_precision() -> None:
    settings = make_settings(Path("unused"), embedder="sentence-transformers",
                             embed_precision="bfloat16")
    embedder = create_embedder(settings)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.precision == "bfloat16"
    # the store and index see one model whatever the number format ...
    assert embedder.model_name == "all-MiniLM-L6-v2"
    # ... but cached vectors are kept apart
    assert vector_tag(embedder) == "all-MiniLM-L6-v2@bfloat16"
    plain = SentenceTransformerEmbedder("all-MiniLM-L6-v2", precision="float32")
    assert vector_tag(plain) == "all-MiniLM-L6-v2"
    assert vector_tag(HashingEmbedder()) == "hashing-256"


class _Constant:
    """An embedder whose every vector is one fixed value, under a chosen tag."""

    model_name = "fake"
    dimension = 4

    def __init__(self, tag: str, value: float) -> None:
        self.vector_tag = tag
        self.value = value
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Matrix:
        self.calls += 1
        return np.full((len(texts), 4), self.value, dtype=np.float32)


def test_cache_keeps_vectors_of_each_number_format_apart(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    first = CachingEmbedder(_Constant("fake", 0.5), path)
    np.testing.assert_array_equal(first.embed(["a text"]), np.full((1, 4), 0.5, np.float32))
    first.close()
    other = _Constant("fake@bfloat16", 0.25)
    second = CachingEmbedder(other, path)
    np.testing.assert_array_equal(second.embed(["a text"]), np.full((1, 4), 0.25, np.float32))
    assert other.calls == 1 and second.vector_tag == "fake@bfloat16"
    second.close()
    again = _Constant("fake", 9.0)
    third = CachingEmbedder(again, path)
    np.testing.assert_array_equal(third.embed(["a text"]), np.full((1, 4), 0.5, np.float32))
    assert again.calls == 0
    third.close()


def test_a_cache_shared_by_models_of_different_sizes_knows_each_ones(tmp_path: Path) -> None:
    from cluster.embedding.models import HashingEmbedder

    path = tmp_path / "cache.sqlite3"
    small = CachingEmbedder(HashingEmbedder(64), path)
    assert small.embed(["a text"]).shape == (1, 64)
    small.close()
    large = CachingEmbedder(HashingEmbedder(512), path)
    assert large.dimension == 512 and large.embed(["a text"]).shape == (1, 512)
    large.close()
    again = CachingEmbedder(HashingEmbedder(64), path)
    assert again.dimension == 64
    again.close()


def test_the_multilingual_embedder_puts_translations_together() -> None:
    from cluster.embedding.models import MultilingualEmbedder

    embedder = MultilingualEmbedder()
    vectors = embedder.embed([
        "U.S. and Russian envoys meet on North Korea ahead of the APEC summit",
        "US- und russische Gesandte treffen sich vor dem APEC-Gipfel zu Nordkorea",
        "Enviados de EE.UU. y Rusia se reúnen sobre Corea del Norte antes de la cumbre APEC",
        "Lufthansa pilots strike, hundreds of flights cancelled",
    ])
    assert vectors.shape == (4, 512) and embedder.dimension == 512
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert min(similarity[0, 1], similarity[0, 2]) > similarity[0, 3] + 0.4
    assert embedder.embed([]).shape == (0, 512)


@pytest.mark.model
def test_bfloat16_vectors_agree_with_float32() -> None:
    texts = [
        "US and Russian envoys discuss North Korea before APEC",
        "Lufthansa pilots strike over pensions\nThe walkout grounded 800 flights.",
        "Magnitude 6.1 earthquake shakes southern Iran",
    ]
    full = SentenceTransformerEmbedder("all-MiniLM-L6-v2", precision="float32").embed(texts)
    half = SentenceTransformerEmbedder("all-MiniLM-L6-v2", precision="bfloat16").embed(texts)
    assert half.dtype == np.float32 and half.shape == full.shape
    np.testing.assert_allclose(np.linalg.norm(half, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(full * half, axis=1))) > 0.999
