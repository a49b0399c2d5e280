"""Embedders: text → L2-normalised vectors. ``create_embedder`` picks the
backend named in the settings; ``HashingEmbedder`` is the fast fake for tests."""

from cluster.embedding.models import (
    Embedder,
    HashingEmbedder,
    SentenceTransformerEmbedder,
    create_embedder,
    embedding_text,
)

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "SentenceTransformerEmbedder",
    "create_embedder",
    "embedding_text",
]
