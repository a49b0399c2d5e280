"""Deriving the vector index from the store, and re-embedding the store: the
store is the source of truth, so every vector index can be rebuilt from it
and brought up to date by replaying its index log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from cluster.clustering.story_ids import vanished_story_targets
from cluster.embedding.models import Embedder, embedding_text, text_fingerprint
from cluster.index.backends import VectorIndex
from cluster.index.layout import adapt, build_from_store, outgrown
from cluster.store import Reader, Store, Writer
from cluster.types import ArticleKey, StoryId, Vector

LOG = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called as progress(done, total) by long operations."""


def index_from_store(
    reader: Reader, backend: str, dimension: int, progress: Progress | None = None,
    ivf_threshold: int = 50_000, nprobe: int = 32,
) -> VectorIndex:
    """A new index holding every stored vector, of the layout its size calls for."""
    index = build_from_store(reader, backend, dimension, ivf_threshold, nprobe)
    total, done = reader.article_count(), 0
    for keys, vectors in reader.iter_vectors():
        index.add(keys, vectors)
        done += len(keys)
        if progress:
            progress(done, total)
    return index


def fit_layout(
    index: VectorIndex, reader: Reader, backend: str, dimension: int,
    ivf_threshold: int, nprobe: int,
) -> VectorIndex:
    """``index`` in the layout its size calls for: an IVF index that outgrew
    its cells is rebuilt from the store (see cluster/index/layout.py), an
    exact one past the threshold becomes IVF, any other is kept."""
    if outgrown(index):
        started = time.perf_counter()
        index = index_from_store(reader, backend, dimension, None, ivf_threshold, nprobe)
        LOG.info("index: IVF cells retrained for %d vectors (%d cells) in %.1f s",
                 len(index), getattr(index, "lists", 0), time.perf_counter() - started)
        return index
    return adapt(index, backend, ivf_threshold, nprobe)


def replay_index_log(index: VectorIndex, reader: Reader, since: int) -> None:
    """Apply the store's index changes after sequence ``since`` to ``index``."""
    final: dict[ArticleKey, str] = {}
    for _, key, op in reader.index_ops_since(since):
        final[key] = op
    # Every touched key leaves the index; those whose last change was an add
    # (new or updated) come back with the store's current vector.
    index.remove(np.array(sorted(final), dtype=np.int64))
    added = [k for k, op in final.items() if op == "add"]
    present = reader.articles_by_keys(added)
    keys = [k for k in added if k in present]
    if keys:
        index.add(np.array(keys, dtype=np.int64), reader.vectors(keys))


def reembed_store(
    store: Store, embedder: Embedder, lead_chars: int, progress: Progress | None = None
) -> None:
    """Re-embed every article with ``embedder`` and recompute story centroids
    in the new space; the store switches models in one transaction, so an
    interrupted run leaves it as it was."""
    model = embedder.model_name
    updates: list[tuple[ArticleKey, Vector, str]] = []
    with store.read() as reader:
        total = reader.article_count()
        batches = list(reader.iter_articles_in_time_order(batch=256))
    done = 0
    for batch in batches:
        texts = [embedding_text(a.title, a.text, lead_chars) for a in batch]
        vectors = embedder.embed(texts)
        updates.extend((a.key, v, text_fingerprint(t, model))
                       for a, v, t in zip(batch, vectors, texts, strict=True))
        done += len(batch)
        if progress:
            progress(done, total)
    with store.write() as writer:
        for key, vector, digest in updates:
            writer.update_vector(key, vector, digest)
        writer.set_meta("embedding_model", model)
        writer.set_meta("dimension", str(embedder.dimension))
        for row in writer.stories_with_status(("active", "dormant", "archived")):
            members = writer.story_articles(row.id)
            centroid_sum = writer.vectors([m.key for m in members]).astype(np.float64).sum(axis=0)
            writer.save_story(
                row.id, status=row.status, first_seen=row.first_seen,
                last_updated=row.last_updated, activity=row.activity,
                article_count=len(members), centroid_sum=centroid_sum,
            )


def alias_vanished_stories(
    writer: Writer, old: dict[str, StoryId], absorbed: list[tuple[StoryId, StoryId]],
    now: float | None, dimension: int,
) -> None:
    """After a re-cluster: old story ids that no new story took keep answering,
    with ``merged_into`` the new story that holds most of their articles; so do
    ids absorbed by merges before the re-cluster."""
    targets = vanished_story_targets(writer.assignments(), old)
    for old_id, target in absorbed:
        targets.setdefault(old_id, target)
    empty = np.zeros(dimension, dtype=np.float64)
    for old_id, target in sorted(targets.items()):
        if writer.story(old_id) is not None:
            continue
        writer.create_story(old_id)
        writer.save_story(old_id, status="merged", first_seen=None, last_updated=None,
                          activity=0.0, article_count=0, centroid_sum=empty,
                          merged_into=target)
        writer.add_event(old_id, "merged", now, other_id=target)
