"""The service's rebuilds: the index from the store, optionally re-embedding
every article or re-clustering the whole store in time order.

A re-cluster streams: articles are read in time order a block at a time
(keyset pages of the store), each block's vectors added to the one index
that the replay builds and that becomes the snapshot, so memory holds one
block of articles, the index and the clusterer, whatever the store's size.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from cluster.clustering.story_ids import match_story_ids, vanished_story_targets
from cluster.embedding.models import Embedder, embedding_text, text_fingerprint
from cluster.index.building import fit_layout, index_from_store
from cluster.index.snapshot import write_snapshot
from cluster.service.ingest import Ingest
from cluster.service.maintenance import Maintenance
from cluster.service.runtime import ServiceRuntime
from cluster.store import Store, Writer
from cluster.store.records import as_article
from cluster.storylines.ids import keep_storyline_ids, storylines_before
from cluster.types import ArticleKey, Progress, StoryId, Vector

RECLUSTER_BLOCK = 512
"""Articles read per step of a re-cluster (bounds what is held at once)."""


class Rebuilder:
    """Rebuilds the derived state (index, stories) from the store."""

    def __init__(self, runtime: ServiceRuntime, ingest: Ingest, maintenance: Maintenance,
                 changed: Callable[[], None]) -> None:
        self._rt = runtime
        self._ingest = ingest
        self._maintenance = maintenance
        self._changed = changed

    def rebuild(
        self, reembed: bool = False, recluster: bool = False, progress: Progress | None = None
    ) -> dict[str, object]:
        """Rebuild the index from the store (optionally re-embedding every article
        and re-clustering in time order), then swap the snapshot atomically."""
        rt = self._rt
        settings = rt.settings
        started = time.perf_counter()
        with rt.lock:
            if reembed:
                reembed_store(rt.store, rt.embedder, settings.lead_chars, progress)
                rt.restore_clusterer()
            kept: tuple[int, int] | None = None
            if recluster:
                kept = self._recluster(progress)
                with rt.store.read() as reader:
                    index = fit_layout(rt.index, reader, settings.index_backend, rt.dimension,
                                       settings.ivf_threshold, settings.index_nprobe)
                    seq = reader.index_seq()
            else:
                with rt.store.read() as reader:
                    index = index_from_store(reader, settings.index_backend, rt.dimension,
                                             progress, settings.ivf_threshold,
                                             settings.index_nprobe)
                    seq = reader.index_seq()
            write_snapshot(settings.index_dir, index, rt.embedder.model_name, seq, rt.store_id)
            rt.index, rt.snapshot_seq = index, seq
        self._changed()
        result: dict[str, object] = {"articles": len(rt.index), "store_seq": seq,
                                     "seconds": round(time.perf_counter() - started, 3)}
        if kept is not None:
            result["storylines_kept"] = kept[0]
            result["storylines_before"] = kept[1]
        return result

    def _recluster(self, progress: Progress | None) -> tuple[int, int]:
        """Replay every article in time order through a fresh clusterer; new
        stories take over the id of the old story they share most articles
        with, and storylines likewise. Returns (storylines kept, storylines
        before) for the ones readers could see."""
        rt = self._rt
        with rt.store.read() as reader:
            old = reader.assignments()
            absorbed = reader.merged_stories()
            total = reader.article_count()
            lines = storylines_before(reader)
        rt.reset_for_recluster()
        done = 0
        with rt.store.write() as writer:
            writer.clear_clustering()
            writer.clear_term_frequencies()
            # each page is its own query, read whole before the next: the
            # assignments written meanwhile do not disturb the order
            for batch in writer.iter_articles_in_time_order(batch=RECLUSTER_BLOCK):
                vectors = writer.vectors([a.key for a in batch])
                for article, vector in zip(batch, vectors, strict=True):
                    rt.index.add(np.array([article.key], dtype=np.int64), vector.reshape(1, -1))
                    self._ingest.assign(writer, article.key, as_article(article), vector)
                # a re-cluster links storylines once, at the end, by searching:
                # the neighbours of every article would not fit in memory
                rt.changes.near.clear()
                done += len(batch)
                if progress:
                    progress(done, total)
            # Merges and splits first, while the clusterer's story ids are the
            # store's; the final stories then take over the old ids.
            self._maintenance.run(writer)
            writer.rename_stories(match_story_ids(writer.assignments(), old))
            alias_vanished_stories(writer, old, absorbed, rt.clock(), rt.dimension)
            kept = keep_storyline_ids(writer, lines, rt.clock())
            rt.flush_terms(writer)
        rt.restore_clusterer()
        return kept


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
