"""The service's rebuilds: the index from the store, optionally re-embedding
every article or re-clustering the whole store in time order.

A mixin of ``StoryService``, like ``ServiceReads``.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from cluster.articles import Article
from cluster.clustering import OnlineClusterer
from cluster.embedding import Embedder
from cluster.fair_lock import FairRLock
from cluster.index import VectorIndex, create_index
from cluster.lexical import TermStats
from cluster.rebuild import (
    Progress,
    alias_vanished_stories,
    index_from_store,
    reembed_store,
)
from cluster.records import as_article
from cluster.settings import Settings
from cluster.snapshot import write_snapshot
from cluster.store import SQLiteStore, Writer
from cluster.story_ids import match_story_ids
from cluster.types import ArticleKey, StoryId, Vector


class ServiceRebuild:
    settings: Settings
    store: SQLiteStore
    index: VectorIndex
    embedder: Embedder
    clusterer: OnlineClusterer
    terms: TermStats
    _lock: FairRLock
    _snapshot_seq: int
    _dimension: int
    _now: float | None
    _term_delta: Counter[str]

    def _restore_clusterer(self) -> None:
        raise NotImplementedError

    def _assign(
        self, writer: Writer, key: ArticleKey, article: Article, vector: Vector,
        pairs: list[tuple[int, float]] | None = None, batch_row: int | None = None,
    ) -> tuple[StoryId, bool]:
        raise NotImplementedError

    def _save_pending(self, writer: Writer) -> None:
        raise NotImplementedError

    def _clock(self) -> float | None:
        raise NotImplementedError

    def _maintain(self, writer: Writer) -> None:
        raise NotImplementedError

    def _flush_terms(self, writer: Writer) -> None:
        raise NotImplementedError

    def _changed(self) -> None:
        raise NotImplementedError

    def rebuild(
        self, reembed: bool = False, recluster: bool = False, progress: Progress | None = None
    ) -> dict[str, object]:
        """Rebuild the index from the store (optionally re-embedding every article
        and re-clustering in time order), then swap the snapshot atomically."""
        started = time.perf_counter()
        with self._lock:
            if reembed:
                reembed_store(self.store, self.embedder, self.settings.lead_chars, progress)
                self._restore_clusterer()
            with self.store.read() as reader:
                index = index_from_store(reader, self.settings.index_backend, self._dimension,
                                         None if recluster else progress,
                                         self.settings.ivf_threshold, self.settings.index_nprobe)
                seq = reader.index_seq()
            if recluster:
                self._recluster(progress)
            write_snapshot(self.settings.index_dir, index, self.embedder.model_name, seq)
            self.index, self._snapshot_seq = index, seq
        self._changed()
        return {"articles": len(self.index), "store_seq": seq,
                "seconds": round(time.perf_counter() - started, 3)}

    def _recluster(self, progress: Progress | None) -> None:
        """Replay every article in time order through a fresh clusterer; new
        stories take over the id of the old story they share most articles with."""
        with self.store.read() as reader:
            old = reader.assignments()
            absorbed = reader.merged_stories()
            total = reader.article_count()
        self.index = create_index(self.settings.index_backend, self._dimension)
        self.clusterer = OnlineClusterer(self.settings.cluster, self._dimension)
        self._now = None
        self.terms = TermStats()
        self._term_delta.clear()
        done = 0
        with self.store.write() as writer:
            writer.clear_clustering()
            writer.clear_term_frequencies()
            for batch in list(writer.iter_articles_in_time_order(batch=512)):
                vectors = writer.vectors([a.key for a in batch])
                for article, vector in zip(batch, vectors, strict=True):
                    self.index.add(np.array([article.key], dtype=np.int64), vector.reshape(1, -1))
                    self._assign(writer, article.key, as_article(article), vector)
                done += len(batch)
                if progress:
                    progress(done, total)
            self._save_pending(writer)
            # Merges and splits first, while the clusterer's story ids are the
            # store's; the final stories then take over the old ids.
            self._maintain(writer)
            writer.rename_stories(match_story_ids(writer.assignments(), old))
            alias_vanished_stories(writer, old, absorbed, self._clock(), self._dimension)
            self._flush_terms(writer)
        self._restore_clusterer()
