"""The story service: the one object the API and the scripts call.

It wires the embedder, the store (source of truth), the vector index
(derived, snapshotted) and the online clusterer, and owns the write path:

    validate → embed (outside the lock) → one store transaction per batch:
    store article + vector → index it → assign to a story → update the story
    → maintenance (ageing, merges, splits, labels; service_maintenance.py)
    → commit → acknowledge

If anything fails inside the transaction it is rolled back and the in-memory
index and clusterer are restored from the store, so a batch is all or
nothing. The FAISS index is brought up to date at start-up by replaying the
store's index log past the snapshot's sequence number.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from cluster.articles import Article
from cluster.batch_search import BatchNeighbourSearch
from cluster.clustering import Neighbour, OnlineClusterer
from cluster.duplicates import NearDuplicateIndex, signature
from cluster.embedding import Embedder, create_embedder, embedding_text
from cluster.errors import IndexMismatch, NotFound
from cluster.fair_lock import FairRLock
from cluster.index import VectorIndex, create_index
from cluster.lexical import TermStats, Weights, article_terms
from cluster.preparation import Prepared, PreparedBatch, prepare_batch, recheck, validate_batch
from cluster.presentation_worker import (
    PresentationWorker,
    WorkerRounds,
    leave_a_core_to_the_worker,
)
from cluster.presenter import CHUNK as PRESENTER_CHUNK
from cluster.presenter import BackgroundPresenter, present_dirty
from cluster.rebuild import (
    Progress,
    fit_layout,
    index_from_store,
    replay_index_log,
)
from cluster.service_maintenance import ServiceMaintenance
from cluster.service_reads import ServiceReads
from cluster.service_rebuild import ServiceRebuild
from cluster.settings import Settings
from cluster.snapshot import load_snapshot, write_snapshot
from cluster.store import Reader, SQLiteStore, StoredArticle, Writer
from cluster.story_loader import StoreStoryLoader
from cluster.types import ArticleKey, StoryId, Vector
from cluster.views import (
    IngestResult,
)

STATUSES = ("active", "dormant", "archived")
PRESENT_CHUNK = 256
WORKER_CHUNK = 512
"""Stories per request to the presentation worker (about 0.5 s of its time): at
least what an ingest batch changes, since each round waits for one batch."""


class StoryService(ServiceReads, ServiceMaintenance, ServiceRebuild):
    """Ingest, related coverage, stories, maintenance and rebuilds."""

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, *,
        changing_model: bool = False, wall_clock: Callable[[], float] = time.time,
        present_per_batch: bool = True,
    ) -> None:
        self.settings = settings
        # Off only where nobody reads between batches (evaluation): stories then
        # get their labels and summaries from one refresh_presentations() at the end.
        self._present_per_batch = present_per_batch
        self._wall_clock = wall_clock
        self.duplicates = NearDuplicateIndex(settings.duplicate_threshold,
                                             settings.duplicate_window_days)
        self.embedder = embedder if embedder is not None else create_embedder(settings)
        self.store = SQLiteStore(settings.store_path)
        self._lock = FairRLock()
        self._now: float | None = None
        self._snapshot_seq = 0
        self.terms = TermStats()
        self._term_delta: Counter[str] = Counter()
        self._pending: set[StoryId] = set()
        self._grown: Counter[StoryId] = Counter()
        # The batch's new vectors, added to the index in one call when the batch
        # is done with it: one FAISS add per article cost ~0.1 ms each on IVF
        # (a quantiser search per call). The batch's own articles reach each
        # other through BatchNeighbourSearch meanwhile.
        self._unindexed: list[tuple[ArticleKey, Vector]] = []
        self._presenter: BackgroundPresenter | None = None
        self._worker: WorkerRounds | None = None
        if changing_model:
            # Opened only to re-embed: the stored vectors and snapshot belong to
            # another model, so neither is loaded.
            self._dimension = self.embedder.dimension
            self.index: VectorIndex = create_index(settings.index_backend, self._dimension)
            self.clusterer = OnlineClusterer(settings.cluster, self._dimension)
            return
        self._dimension = self._check_model()
        self.index = create_index(settings.index_backend, self._dimension)
        self.clusterer = OnlineClusterer(settings.cluster, self._dimension)
        self._load_index()
        self._restore_clusterer()
        self._load_duplicates()
        with self.store.read() as reader:
            stale = reader.dirty_story_count()
        if stale:  # left by a crash, or stories from before presentation existed
            with self._locked_write() as writer:
                writer.recover_claims()  # a worker's unfinished chunk
            self.maintain()
        if present_per_batch and settings.presentation_delay_s > 0:
            present, chunk, flush = self._present_some, PRESENTER_CHUNK, None
            if settings.presentation_worker == "process":
                leave_a_core_to_the_worker()
                self._worker = WorkerRounds(
                    PresentationWorker(settings.store_path), self._locked_write,
                    settings.hotness_half_life_hours, lambda: self.terms.documents)
                present, chunk, flush = self._worker.present_some, WORKER_CHUNK, self._worker.flush
            self._presenter = BackgroundPresenter(
                present, settings.presentation_delay_s, chunk=chunk,
                waiting=self._waiting_presentation, flush=flush)

    @classmethod
    def for_rebuild(cls, settings: Settings, embedder: Embedder | None = None) -> StoryService:
        """A service that may re-embed a store made by another model."""
        return cls(settings, embedder, changing_model=True)

    # -- start-up ------------------------------------------------------------
    def _check_model(self) -> int:
        """The vectors' dimension; refuses a store made by another model."""
        with self.store.read() as reader:
            stored_model = reader.meta("embedding_model")
            stored_dimension = reader.meta("dimension")
        if stored_model is not None and stored_model != self.embedder.model_name:
            raise IndexMismatch(
                f"the store's vectors were made by model {stored_model!r} but "
                f"{self.embedder.model_name!r} is configured; run "
                "`python scripts/rebuild_index.py --reembed` to re-embed them"
            )
        if stored_dimension is not None:
            return int(stored_dimension)
        dimension = self.embedder.dimension
        with self.store.write() as writer:
            writer.set_meta("embedding_model", self.embedder.model_name)
            writer.set_meta("dimension", str(dimension))
        return dimension

    def _load_index(self) -> None:
        settings = self.settings
        loaded = load_snapshot(settings.index_dir, self.embedder.model_name, self._dimension,
                               settings.index_backend, settings.index_nprobe)
        with self.store.read() as reader:
            if loaded is None:
                self.index = index_from_store(reader, settings.index_backend, self._dimension,
                                              None, settings.ivf_threshold,
                                              settings.index_nprobe)
                self._snapshot_seq = 0
                return
            self.index, manifest = loaded
            self._snapshot_seq = manifest.store_seq
            if manifest.store_seq > reader.index_seq():
                raise IndexMismatch(
                    f"index snapshot covers store sequence {manifest.store_seq} but the store "
                    f"only reaches {reader.index_seq()} (was the store replaced?); run "
                    "`python scripts/rebuild_index.py`"
                )
            replay_index_log(self.index, reader, manifest.store_seq)

    def _restore_clusterer(self) -> None:
        """Joinable stories from the store, with their lexical profiles rebuilt
        from their members' text under the stored document frequencies."""
        self.clusterer = OnlineClusterer(self.settings.cluster, self._dimension,
                                         StoreStoryLoader(self.store, self._weights))
        self._term_delta.clear()
        with self.store.read() as reader:
            self.terms = TermStats(reader.article_count(), reader.term_frequencies())
            clock = reader.meta("stream_time")
            self._now = None if clock is None else float(clock)
            now = self._clock()
            cutoff = self.clusterer.quiet_cutoff(now)
            expected = 0 if cutoff is None else reader.live_stories_before(cutoff)
            self.clusterer.restore(reader.live_story_states(), now, expected)
            self.clusterer.apart_.update(reader.split_pairs())

    def _load_duplicates(self) -> None:
        """The duplicate index holds the articles of the last window of the stream."""
        now = self._clock()
        horizon = None if now is None else now - self.duplicates.window
        with self.store.read() as reader:
            self.duplicates.load(reader.recent_signatures(horizon))

    def _clock(self) -> float | None:
        """Now, for ageing: the newest published_at seen, or the wall clock."""
        return self._wall_clock() if self.settings.clock == "wall" else self._now

    def _counts(self, title: str, text: str) -> Counter[str]:
        return article_terms(embedding_text(title, text, self.settings.lead_chars))

    def _weights(self, title: str, text: str) -> Weights:
        return self.terms.weigh(self._counts(title, text))

    def _count_terms(self, counts: Counter[str], sign: int) -> None:
        """Update document frequencies in memory; the delta is written with the batch."""
        if sign > 0:
            self.terms.add(counts)
        else:
            self.terms.remove(counts)
        for term in counts:
            self._term_delta[term] += sign

    def _flush_terms(self, writer: Writer) -> None:
        """Write what the batch changed in memory: term frequencies, stream clock."""
        writer.add_term_frequencies(dict(self._term_delta))
        self._term_delta.clear()
        if self._now is not None:
            writer.set_meta("stream_time", repr(self._now))

    def _recover_memory(self, touched: Sequence[ArticleKey]) -> None:
        """After a rolled-back write: make the index and clusterer match the store."""
        self._pending.clear()
        self._grown.clear()
        self._unindexed.clear()
        keys = np.array(sorted(set(touched)), dtype=np.int64)
        self.index.remove(keys)
        self.duplicates.remove(keys.tolist())
        with self.store.read() as reader:
            stored = reader.articles_by_keys(keys.tolist())
            present = [k for k in keys.tolist() if k in stored]
            if present:
                self.index.add(np.array(present, dtype=np.int64), reader.vectors(present))
                self.duplicates.load(reader.signatures_of(present))
        self._restore_clusterer()

    # -- ingest --------------------------------------------------------------
    def ingest(self, articles: Sequence[Article]) -> list[IngestResult]:
        """Store, index and assign a batch, all or nothing; returns one result per article."""
        return self.ingest_prepared(self.prepare(articles))

    def prepare(self, articles: Sequence[Article]) -> PreparedBatch:
        """Validate a batch and embed what is new or changed, without the write
        lock: a caller may prepare the next batch while this one is written
        (``ingest_prepared`` re-checks what was stored in between)."""
        validate_batch(articles, self.settings.max_batch)
        with self.store.read() as reader:
            stored = reader.articles_by_ids(a.id for a in articles)
        return PreparedBatch(tuple(prepare_batch(
            stored, self.embedder, articles, self.settings.lead_chars)))

    def ingest_prepared(self, batch: PreparedBatch) -> list[IngestResult]:
        """The write half of ``ingest``: one transaction for the prepared batch."""
        touched: list[ArticleKey] = []
        with self._lock:
            try:
                with self.store.write() as writer:
                    prepared = recheck(writer, batch.items)
                    search = self._batch_search(prepared)
                    self.clusterer.centroids_.begin_batch(
                        search.vectors, self.settings.cluster.centroid_candidates)
                    try:
                        results = [self._ingest_one(writer, item, touched, search, row)
                                   for row, item in enumerate(prepared)]
                    finally:
                        self.clusterer.centroids_.end_batch()
                    self._index_unindexed()
                    self._maintain(writer)
                    self._flush_terms(writer)
            except BaseException:
                self._recover_memory(touched)
                raise
            self._maybe_snapshot()
        self._changed()
        return results

    def _batch_search(self, prepared: Sequence[Prepared]) -> BatchNeighbourSearch:
        """One index search for the batch's embedded articles (rows without a
        fresh vector are searched one by one if they need it)."""
        dimension = self._dimension
        vectors = np.stack([
            item.vector if item.vector is not None else np.zeros(dimension, np.float32)
            for item in prepared
        ]) if prepared else np.zeros((0, dimension), np.float32)
        replaced = sum(1 for item in prepared if item.existing is not None)
        return BatchNeighbourSearch(self.index, vectors, self.settings.cluster.neighbours,
                                    replaced)

    def _ingest_one(
        self, writer: Writer, item: Prepared, touched: list[ArticleKey],
        search: BatchNeighbourSearch | None = None, row: int = 0,
    ) -> IngestResult:
        article, old = item.article, item.existing
        if old is not None:
            # Re-read inside the transaction: an earlier item of this batch or a
            # concurrent writer may have changed it since _prepare.
            old = writer.article_by_id(article.id)
        if old is not None and old.content_hash == article.content_hash:
            assert old.story_id is not None
            return IngestResult(article.id, old.story_id, False, "unchanged", old.duplicate_of)
        sketch = item.signature
        if old is not None and sketch is None:
            # prepared against an earlier version that had this content
            sketch = signature(article.title, article.text)
        blob = None if sketch is None else sketch.tobytes()
        if old is not None:
            vector = item.vector
            if vector is None and old.embed_hash != item.embed_hash:
                # changed since prepare looked: its stored vector is of other text
                vector = self.embedder.embed(
                    [embedding_text(article.title, article.text, self.settings.lead_chars)])[0]
            elif vector is None:
                vector = writer.vectors([old.key])[0]
            touched.append(old.key)
            if search is not None:
                search.forget(old.key)
            self._unassign(writer, old)
            self.duplicates.remove([old.key])
            writer.promote_duplicates(old.id)
            original = self._original_of(writer, item, old.key)
            writer.update_article(old.key, article, vector, item.embed_hash,
                                  original.id if original else None, blob)
            key, status = old.key, "updated"
        else:
            vector = item.vector if item.vector is not None else self.embedder.embed(
                [embedding_text(article.title, article.text, self.settings.lead_chars)])[0]
            original = self._original_of(writer, item, -1)
            key = writer.insert_article(article, vector, item.embed_hash,
                                        original.id if original else None, blob)
            status = "created"
        if sketch is not None:
            self.duplicates.add(key, sketch, article.timestamp)
        touched.append(key)
        if status == "updated":  # ids are unique in a batch: this key is not pending
            self.index.remove(np.array([key], dtype=np.int64))
        self._unindexed.append((key, vector))
        pairs = None
        if search is not None and item.vector is not None:
            pairs = search.neighbours(row, exclude=key)
            search.added(row, key)
        story_id, new = self._assign(writer, key, article, vector, pairs,
                                     row if item.vector is not None else None)
        return IngestResult(article.id, story_id, new, status,
                            original.id if original else None)

    def _index_unindexed(self) -> None:
        if self._unindexed:
            keys = np.array([key for key, _ in self._unindexed], dtype=np.int64)
            self.index.add(keys, np.stack([vector for _, vector in self._unindexed]))
            self._unindexed.clear()

    def _original_of(self, writer: Writer, item: Prepared, exclude: int) -> StoredArticle | None:
        """The stored article this one copies (exactly, or nearly by MinHash), followed
        to its own original; None for original coverage."""
        found = writer.first_copy(item.embed_hash, exclude)
        if found is None and item.signature is not None:
            keys = [k for k in self.duplicates.originals(item.signature) if k != exclude]
            if keys:
                found = writer.articles_by_keys(keys[:1]).get(keys[0])
        if found is not None and found.duplicate_of is not None:
            root = writer.article_by_id(found.duplicate_of)
            found = root if root is not None else found
        return found

    def _neighbours(
        self, reader: Reader, vector: Vector, exclude: int | None, k: int,
        pairs: list[tuple[int, float]] | None = None,
    ) -> list[Neighbour]:
        if pairs is None:
            scores, keys = self.index.search(vector.reshape(1, -1), k + 1)
            pairs = [(int(key), float(score))
                     for key, score in zip(keys[0], scores[0], strict=True)
                     if key >= 0 and key != exclude]
        placed = reader.placement(key for key, _ in pairs)
        return [
            Neighbour(score, placed[key][0], placed[key][1])
            for key, score in pairs[:k] if key in placed
        ]

    def _assign(
        self, writer: Writer, key: ArticleKey, article: Article, vector: Vector,
        pairs: list[tuple[int, float]] | None = None, batch_row: int | None = None,
    ) -> tuple[StoryId, bool]:
        timestamp = article.timestamp
        counts = self._counts(article.title, article.text)
        self._count_terms(counts, +1)
        terms = self.terms.weigh(counts)
        if pairs is None:
            self._index_unindexed()  # searched on its own: the batch so far must be in
        neighbours = self._neighbours(writer, vector, key, self.settings.cluster.neighbours,
                                      pairs)
        # A copy is not forced into its original's story: it scores ~1 against the
        # original anyway, and where the story has drifted the clusterer's choice
        # was the better one on the labelled data (uci_headlines 0.845 vs 0.829).
        decision = self.clusterer.predict_one(vector, timestamp, neighbours,
                                              body_chars=len(article.text), terms=terms,
                                              batch_row=batch_row)
        if decision.story_id is None:
            story_id = writer.create_story()
            writer.add_event(story_id, "created", timestamp, article.id)
        else:
            story_id = decision.story_id
            writer.add_event(story_id, "grew", timestamp, article.id)
        self.clusterer.learn_one(story_id, vector, timestamp, terms)
        self._grown[story_id] += 1
        writer.assign(key, story_id, decision.score if not decision.new_story else None,
                      decision.new_story)
        # The story row is written once per batch (_save_pending), not per article.
        self._pending.add(story_id)
        if timestamp is not None and (self._now is None or timestamp > self._now):
            self._now = timestamp
        return story_id, decision.new_story

    def _unassign(self, writer: Writer, old: StoredArticle) -> None:
        """Take a stored article out of its story; an emptied story disappears."""
        if old.story_id is None:
            return
        vector = writer.vectors([old.key])[0]
        counts = self._counts(old.title, old.text)
        terms = self.terms.weigh(counts)
        self._count_terms(counts, -1)
        writer.unassign(old.key)
        first, last = writer.story_span(old.story_id)
        if old.story_id not in self.clusterer.stories_:
            row = writer.story(old.story_id)
            if row is not None:
                self.clusterer.restore([(row.id, row.article_count, row.centroid_sum,
                                         row.first_seen, row.last_updated)])
        state = self.clusterer.forget_one(old.story_id, vector, first, last, terms)
        if state is None:
            writer.delete_story(old.story_id)
            self._pending.discard(old.story_id)
        else:
            self._pending.add(old.story_id)

    # -- maintenance (cluster/service_maintenance.py) and presentation ------
    def _present_some(self, limit: int) -> bool:
        with self._locked_write() as writer:
            return present_dirty(writer, self.clusterer, self.terms,
                                 self.settings.hotness_half_life_hours, limit)

    def _waiting_presentation(self) -> int:
        with self.store.read() as reader:
            return reader.dirty_story_count()

    @contextmanager
    def _locked_write(self) -> Iterator[Writer]:
        """A store write under the service lock (what the presenters write with)."""
        with self._lock, self.store.write() as writer:
            yield writer

    def _changed(self) -> None:
        if self._presenter is not None:
            self._presenter.notify()

    def refresh_presentations(self, progress: Progress | None = None) -> None:
        """Present every changed story now (after an import with per-batch
        presentation off), in chunks: an interruption keeps what was done."""
        with self.store.read() as reader:
            total = reader.dirty_story_count()
        done = 0
        while self._present_some(PRESENT_CHUNK):
            done += PRESENT_CHUNK
            if progress:
                progress(min(done, total), total)
        if progress:
            progress(total, total)

    def wait_for_presentation(self, timeout: float | None = None, hurry: bool = False) -> bool:
        """Block until the background thread has presented every change so far;
        with ``hurry``, without waiting for the changes to settle first."""
        return self._presenter is None or self._presenter.wait_idle(timeout, hurry)

    def close(self) -> None:
        """Stop the background thread (changed stories stay marked in the store)
        and close the store."""
        if self._presenter is not None:
            self._presenter.stop()
            self._presenter = None
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        self.store.close()

    def maintain(self) -> None:
        """Age stories and merge converged ones now. On the wall clock nothing else
        moves time forward between ingests, so the server calls this periodically."""
        with self._lock:
            try:
                with self.store.write() as writer:
                    self._maintain(writer)
                    self._flush_terms(writer)
            except BaseException:
                self._recover_memory([])
                raise
        self._changed()

    def _maybe_snapshot(self, force: bool = False) -> None:
        with self.store.read() as reader:
            seq = reader.index_seq()
        settings = self.settings
        interval = max(settings.snapshot_every, int(settings.snapshot_share * len(self.index)))
        if force or seq - self._snapshot_seq >= interval:
            self.snapshot(seq)

    def snapshot(self, seq: int | None = None) -> None:
        """Write the index to disk as the current snapshot."""
        with self._lock:
            if seq is None:
                with self.store.read() as reader:
                    seq = reader.index_seq()
            settings = self.settings
            with self.store.read() as reader:
                self.index = fit_layout(self.index, reader, settings.index_backend,
                                        self._dimension, settings.ivf_threshold,
                                        settings.index_nprobe)
            write_snapshot(self.settings.index_dir, self.index, self.embedder.model_name, seq)
            self._snapshot_seq = seq

    # -- articles ------------------------------------------------------------
    def delete_article(self, article_id: str) -> None:
        touched: list[ArticleKey] = []
        with self._lock:
            try:
                with self.store.write() as writer:
                    article = writer.article_by_id(article_id)
                    if article is None:
                        raise NotFound("article", article_id)
                    touched.append(article.key)
                    self._unassign(writer, article)
                    writer.promote_duplicates(article.id)
                    writer.delete_article(article.key)
                    self.duplicates.remove([article.key])
                    self.index.remove(np.array([article.key], dtype=np.int64))
                    self._maintain(writer)
                    self._flush_terms(writer)
            except NotFound:
                raise
            except BaseException:
                self._recover_memory(touched)
                raise
            self._maybe_snapshot()
        self._changed()
