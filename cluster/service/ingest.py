"""The write path: articles in, stories out.

    validate → embed (outside the lock; ``prepare``) → one store transaction
    per batch: store article + vector → index it → assign to a story →
    update the story → maintenance (``Maintenance.run``) → commit → acknowledge

A batch is all or nothing: ``ServiceRuntime.transaction`` rolls the store
back and rebuilds the in-memory state from it if anything fails. Deleting
an article takes the same path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from cluster.articles.incoming import Article
from cluster.embedding.models import Embedder, embedding_text
from cluster.errors import NotFound
from cluster.index.batch_search import BatchNeighbourSearch
from cluster.service.batch_preparation import (
    Prepared,
    PreparedBatch,
    prepare_batch,
    recheck,
    validate_batch,
)
from cluster.service.maintenance import Maintenance
from cluster.service.runtime import ServiceRuntime
from cluster.service.views import IngestResult
from cluster.store import StoredArticle, Writer
from cluster.storylines.linking import relink_due
from cluster.text.duplicates import signature
from cluster.types import ArticleKey, StoryId, Vector


class Ingest:
    """Ingests batches and deletes articles; ``changed`` is told after each
    committed write (the presentation scheduler listens)."""

    def __init__(self, runtime: ServiceRuntime, maintenance: Maintenance,
                 changed: Callable[[], None]) -> None:
        self._rt = runtime
        self._maintenance = maintenance
        self._changed = changed

    def ingest(self, articles: Sequence[Article]) -> list[IngestResult]:
        """Store, index and assign a batch, all or nothing; returns one result per article."""
        return self.ingest_prepared(self.prepare(articles))

    def prepare(self, articles: Sequence[Article],
                embedder: Embedder | None = None) -> PreparedBatch:
        """Validate a batch and embed what is new or changed, without the write
        lock: a caller may prepare the next batch while this one is written
        (``ingest_prepared`` re-checks what was stored in between). ``embedder``:
        vectors computed elsewhere (``KnownVectors``) instead of the service's model."""
        rt = self._rt
        validate_batch(articles, rt.settings.max_batch)
        with rt.store.read() as reader:
            stored = reader.articles_by_ids(a.id for a in articles)
        return PreparedBatch(tuple(prepare_batch(
            stored, embedder or rt.embedder, articles, rt.settings.lead_chars)))

    def ingest_prepared(self, batch: PreparedBatch) -> list[IngestResult]:
        """The write half of ``ingest``: one transaction for the prepared batch."""
        rt = self._rt
        touched: list[ArticleKey] = []
        # the per-article work runs beside the other partitions of a partitioned
        # writer; what they share (story rows, storylines, frequencies) waits
        # for this write's commit turn
        with rt.transaction(touched, late_turn=True) as writer:
            prepared = recheck(writer, batch.items)
            search = self._batch_search(prepared)
            with rt.clusterer.batch(search.vectors, rt.settings.cluster.centroid_candidates):
                results = [self._ingest_one(writer, item, touched, search, row)
                           for row, item in enumerate(prepared)]
            writer.take_commit_turn()
            rt.index_unindexed()
            self._maintenance.run(writer)
            rt.flush_terms(writer)
        rt.maybe_snapshot()
        self._changed()
        return results

    def delete_article(self, article_id: str) -> None:
        """Delete a stored article; a story left empty disappears."""
        rt = self._rt
        touched: list[ArticleKey] = []
        with rt.transaction(touched) as writer:
            article = writer.article_by_id(article_id)
            if article is None:
                raise NotFound("article", article_id)
            touched.append(article.key)
            self.unassign(writer, article)
            writer.promote_duplicates(article.id)
            writer.delete_article(article.key)
            rt.duplicates.remove([article.key])
            rt.index.remove(np.array([article.key], dtype=np.int64))
            self._maintenance.run(writer)
            rt.flush_terms(writer)
        rt.maybe_snapshot()
        self._changed()

    def _batch_search(self, prepared: Sequence[Prepared]) -> BatchNeighbourSearch:
        """One index search for the batch's embedded articles (rows without a
        fresh vector are searched one by one if they need it)."""
        dimension = self._rt.dimension
        vectors = np.stack([
            item.vector if item.vector is not None else np.zeros(dimension, np.float32)
            for item in prepared
        ]) if prepared else np.zeros((0, dimension), np.float32)
        replaced = sum(1 for item in prepared if item.existing is not None)
        return BatchNeighbourSearch(self._rt.index, vectors, self._rt.settings.cluster.neighbours,
                                    replaced)

    def _embed(self, article: Article) -> Vector:
        text = embedding_text(article.title, article.text, self._rt.settings.lead_chars)
        vector: Vector = self._rt.embedder.embed([text])[0]
        return vector

    def _ingest_one(
        self, writer: Writer, item: Prepared, touched: list[ArticleKey],
        search: BatchNeighbourSearch | None = None, row: int = 0,
    ) -> IngestResult:
        rt = self._rt
        article, old = item.article, item.existing
        if old is not None:
            # Re-read inside the transaction: an earlier item of this batch or a
            # concurrent writer may have changed it since prepare.
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
                vector = self._embed(article)
            elif vector is None:
                vector = writer.vectors([old.key])[0]
            touched.append(old.key)
            if search is not None:
                search.forget(old.key)
            self.unassign(writer, old)
            rt.duplicates.remove([old.key])
            writer.promote_duplicates(old.id)
            original = self._original_of(writer, item, old.key)
            writer.update_article(old.key, article, vector, item.embed_hash,
                                  original.id if original else None, blob)
            key, status = old.key, "updated"
        else:
            vector = item.vector if item.vector is not None else self._embed(article)
            original = self._original_of(writer, item, -1)
            key = writer.insert_article(article, vector, item.embed_hash,
                                        original.id if original else None, blob)
            status = "created"
        if sketch is not None:
            rt.duplicates.add(key, sketch, article.timestamp)
        touched.append(key)
        if status == "updated":  # ids are unique in a batch: this key is not pending
            rt.index.remove(np.array([key], dtype=np.int64))
        rt.changes.unindexed.append((key, vector))
        pairs = None
        if search is not None and item.vector is not None:
            pairs = search.neighbours(row, exclude=key)
            search.added(row, key)
        story_id, new = self.assign(writer, key, article, vector, pairs,
                                    row if item.vector is not None else None)
        return IngestResult(article.id, story_id, new, status,
                            original.id if original else None)

    def _original_of(self, writer: Writer, item: Prepared, exclude: int) -> StoredArticle | None:
        """The stored article this one copies (exactly, or nearly by MinHash), followed
        to its own original; None for original coverage."""
        found = writer.first_copy(item.embed_hash, exclude)
        if found is None and item.signature is not None:
            keys = [k for k in self._rt.duplicates.originals(item.signature) if k != exclude]
            if keys:
                found = writer.articles_by_keys(keys[:1]).get(keys[0])
        if found is not None and found.duplicate_of is not None:
            root = writer.article_by_id(found.duplicate_of)
            found = root if root is not None else found
        return found

    def assign(
        self, writer: Writer, key: ArticleKey, article: Article, vector: Vector,
        pairs: list[tuple[int, float]] | None = None, batch_row: int | None = None,
    ) -> tuple[StoryId, bool]:
        """Put a stored article into the story the clusterer chooses (or a new one)."""
        rt = self._rt
        timestamp = article.timestamp
        counts = rt.counts(article.title, article.text)
        rt.count_terms(counts, +1)
        terms = rt.terms.weigh(counts)
        if pairs is None:
            rt.index_unindexed()  # searched on its own: the batch so far must be in
        neighbours = rt.neighbours(writer, vector, key, rt.settings.cluster.neighbours, pairs)
        # A copy is not forced into its original's story: it scores ~1 against the
        # original anyway, and where the story has drifted the clusterer's choice
        # was the better one on the labelled data (uci_headlines 0.845 vs 0.829).
        decision = rt.clusterer.predict_one(vector, timestamp, neighbours,
                                            body_chars=len(article.text), terms=terms,
                                            batch_row=batch_row)
        rt.clusterer.keep_read_back(decision)
        rt.clusterer.observe(decision)
        if decision.story_id is None:
            story_id = writer.create_story(partition=rt.partition)
            writer.add_event(story_id, "created", timestamp, article.id)
        else:
            story_id = decision.story_id
            writer.add_event(story_id, "grew", timestamp, article.id)
        rt.clusterer.learn_one(story_id, vector, timestamp, terms)
        rt.changes.grown[story_id] += 1
        state = rt.clusterer.story(story_id)
        if state is not None and relink_due(state.count - 1, state.count):
            # this article brings its story to a size at which it is linked
            # to a storyline: its neighbours' stories are the candidates
            near = rt.changes.near.setdefault(story_id, {})
            for neighbour in neighbours[:rt.settings.cluster.storyline_neighbours]:
                if neighbour.similarity > near.get(neighbour.story_id, -2.0):
                    near[neighbour.story_id] = neighbour.similarity
        writer.assign(key, story_id, decision.score if not decision.new_story else None,
                      decision.new_story)
        # The story row is written once per batch (Maintenance.run), not per article.
        rt.changes.pending.add(story_id)
        rt.advance_clock(timestamp)
        return story_id, decision.new_story

    def unassign(self, writer: Writer, old: StoredArticle) -> None:
        """Take a stored article out of its story; an emptied story disappears."""
        if old.story_id is None:
            return
        rt = self._rt
        vector = writer.vectors([old.key])[0]
        counts = rt.counts(old.title, old.text)
        terms = rt.terms.weigh(counts)
        rt.count_terms(counts, -1)
        writer.unassign(old.key)
        first, last = writer.story_span(old.story_id)
        if not rt.clusterer.knows(old.story_id):
            row = writer.story(old.story_id)
            if row is not None:
                rt.clusterer.restore([(row.id, row.article_count, row.centroid_sum,
                                       row.first_seen, row.last_updated)])
        state = rt.clusterer.forget_one(old.story_id, vector, first, last, terms)
        if state is None:
            writer.delete_story(old.story_id)
            rt.changes.pending.discard(old.story_id)
        else:
            rt.changes.pending.add(old.story_id)
