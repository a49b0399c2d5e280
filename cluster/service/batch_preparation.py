"""The first half of an ingest: validate a batch, look up what is stored, and
embed what is new or changed, with no lock held, so that a caller can
prepare the next batch while the service writes this one. The second half
(``StoryService.ingest_prepared``) re-checks, inside its transaction, what
was stored in between (``recheck``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cluster.articles.incoming import Article
from cluster.embedding.models import Embedder, embedding_text, text_fingerprint
from cluster.errors import BatchTooLarge, InvalidInput
from cluster.store import Reader, StoredArticle
from cluster.text.duplicates import signature
from cluster.types import Vector


@dataclass(frozen=True)
class Prepared:
    """One article of a prepared batch."""

    article: Article
    existing: StoredArticle | None
    """The stored version when the batch was prepared."""
    vector: Vector | None
    """None when the stored version's embedded text is the same."""
    embed_hash: str
    signature: np.ndarray | None
    """The MinHash sketch; None for a re-post of unchanged content."""


@dataclass(frozen=True)
class PreparedBatch:
    """A validated, embedded batch waiting for ``StoryService.ingest_prepared``."""

    items: tuple[Prepared, ...]

    def __len__(self) -> int:
        return len(self.items)


def validate_batch(articles: Sequence[Article], max_batch: int) -> None:
    if len(articles) > max_batch:
        raise BatchTooLarge(
            "articles", f"a batch holds at most {max_batch} articles, got {len(articles)}")
    seen: dict[str, int] = {}
    for position, article in enumerate(articles):
        if article.id in seen:
            raise InvalidInput(
                f"articles[{position}].id",
                f"{article.id!r} appears twice in this batch (also at {seen[article.id]})",
            )
        seen[article.id] = position


def prepare_batch(
    stored: Mapping[str, StoredArticle], embedder: Embedder, articles: Sequence[Article],
    lead_chars: int,
) -> list[Prepared]:
    """Embed what is new or changed against ``stored`` (the stored versions by
    id, read beforehand: no read transaction stays open while the model runs,
    which would hold back the WAL checkpoint for the whole of an import)."""
    model = embedder.model_name
    existing = [stored.get(a.id) for a in articles]
    texts: list[str] = []
    hashes: list[str] = []
    for article, old in zip(articles, existing, strict=True):
        text = embedding_text(article.title, article.text, lead_chars)
        digest = text_fingerprint(text, model)
        hashes.append(digest)
        if old is None or old.embed_hash != digest:
            texts.append(text)
    vectors = iter(embedder.embed(texts)) if texts else iter(())
    prepared: list[Prepared] = []
    for article, old, digest in zip(articles, existing, hashes, strict=True):
        vector = next(vectors) if old is None or old.embed_hash != digest else None
        # a re-posted, unchanged article needs no sketch: it is not re-stored
        changed = old is None or old.content_hash != article.content_hash
        sketch = signature(article.title, article.text) if changed else None
        prepared.append(Prepared(article, old, vector, digest, sketch))
    return prepared


def recheck(reader: Reader, prepared: Sequence[Prepared]) -> list[Prepared]:
    """Articles stored after the batch was prepared (by a concurrent request, or
    by the batch an importer wrote while preparing this one) are updates, not
    inserts: one query for the batch, inside the write transaction."""
    fresh = [item.article.id for item in prepared if item.existing is None]
    found = reader.articles_by_ids(fresh) if fresh else {}
    return [
        Prepared(item.article, found[item.article.id], item.vector, item.embed_hash,
                 item.signature)
        if item.existing is None and item.article.id in found else item
        for item in prepared
    ]
