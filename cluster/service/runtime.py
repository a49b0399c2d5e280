"""What the service's parts share while it is open: the store, the vector
index, the clusterer, the document frequencies, the near-duplicate index,
the stream clock and the write lock.

The store is the source of truth; everything else here is derived from it
and rebuilt from it after a failed write (``transaction``), so a batch is
all or nothing in memory as in the store. The parts (ingest, maintenance,
queries, rebuilds, presentation) each hold this object and nothing of each
other's, except where one calls another's method.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from cluster.clustering.decisions import Neighbour
from cluster.clustering.online import OnlineClusterer
from cluster.embedding.models import Embedder, embedding_text
from cluster.errors import IndexMismatch, NotFound
from cluster.index.backends import VectorIndex, create_index
from cluster.index.building import Keep, fit_layout, index_from_store, replay_index_log
from cluster.index.replica import ReplicaIndex
from cluster.index.segments import current_reach
from cluster.index.snapshot import load_snapshot, write_snapshot
from cluster.service import published
from cluster.service.fair_lock import FairRLock
from cluster.service.story_loader import StoreStoryLoader
from cluster.settings import Settings
from cluster.store import Reader, Store, Writer
from cluster.store.opening import open_store
from cluster.text.duplicates import NearDuplicateIndex
from cluster.text.lexical import TermStats, Weights, article_terms
from cluster.types import ArticleKey, Matrix, StoryId, Vector

if TYPE_CHECKING:
    from cluster.scaleout.routing import Share

LOG = logging.getLogger(__name__)
TIME_EVIDENCE = "time_scale_evidence"
"""The meta key under which the writer keeps what the clusterer's time
factor width is estimated from (a JSON list of hours)."""


def _time_evidence(stored: str | None) -> list[float]:
    """The stored gaps; none (the width starts over) when absent or unreadable."""
    if not stored:
        return []
    try:
        gaps = json.loads(stored)
    except ValueError:
        LOG.warning("the stored time-scale evidence is not JSON; the width starts over")
        return []
    if not isinstance(gaps, list) or not all(isinstance(g, int | float) for g in gaps):
        LOG.warning("the stored time-scale evidence is not a list of hours; the width "
                    "starts over")
        return []
    return [float(g) for g in gaps]


@dataclass
class BatchChanges:
    """What the open write has changed and not yet written or judged: the
    stories whose rows are to be saved, the stories that grew (and by how
    many articles) for the split check and second look, and the batch's new
    vectors, added to the index in one call when the batch is done with it
    (one FAISS add per article cost ~0.1 ms each on IVF, a quantiser search
    per call; the batch's articles reach each other through
    ``BatchNeighbourSearch`` meanwhile)."""

    pending: set[StoryId] = field(default_factory=set)
    grown: Counter[StoryId] = field(default_factory=Counter)
    unindexed: list[tuple[ArticleKey, Vector]] = field(default_factory=list)
    near: dict[StoryId, dict[StoryId, float]] = field(default_factory=dict)
    """For each story that grew in this write, the stories of the articles
    nearest to the articles it took in (found when they were placed), with
    the best similarity of each: its storyline candidates, without another
    index search."""

    def clear(self) -> None:
        self.pending.clear()
        self.grown.clear()
        self.unindexed.clear()
        self.near.clear()


class ServiceRuntime:
    """The service's shared, derived state and the one way to change it."""

    def __init__(self, settings: Settings, embedder: Embedder,
                 wall_clock: Callable[[], float] = time.time, *,
                 changing_model: bool = False, read_only: bool = False,
                 share: Share | None = None) -> None:
        """Opens the store (migrating it if needed). With ``changing_model``
        the store's vectors belong to another model: the dimension is the
        new model's and nothing derived is loaded (see ``load``). With
        ``read_only`` (a reader process) the store is only read, the index
        is a replica of the writer's snapshot (``load_replica``) and nothing
        here is ever written. With ``share`` this is one partition of a
        partitioned writer (cluster/scaleout/partitions.py): its clusterer
        holds the stories it owns, its index their articles, and it shares
        the store with the other partitions."""
        if share is not None:
            settings = settings.model_copy(update={
                "index_dir": settings.index_dir / share.role})
        self.settings = settings
        self.share = share
        self.embedder = embedder
        self.wall_clock = wall_clock
        self.read_only = read_only
        self.store: Store = open_store(settings.store_location, read_only=read_only,
                                       role=None if share is None else share.role)
        if share is None and not read_only:
            from cluster.scaleout.single_writer import note_single_writer

            note_single_writer(self.store)
        with self.store.read() as reader:
            self.store_id = reader.meta("store_id") or ""
            """Recorded in the index snapshots, so that a snapshot of another store
            in the same index folder is never loaded."""
        self.lock = FairRLock()
        self.duplicates = NearDuplicateIndex(settings.duplicate_threshold,
                                             settings.duplicate_window_days)
        self.terms = TermStats()
        self.term_delta: Counter[str] = Counter()
        self.changes = BatchChanges()
        self.stream_time: float | None = None
        self.snapshot_seq = 0
        self.snapshot_cap: int | None = None
        """A partition between recording a batch and applying its barrier's
        folds: the store's sequence when it recorded the batch."""
        self.snapshot_failures = 0
        self.index_seq = 0
        """A reader's: the store's index log sequence its replica has caught up to."""
        self.dimension = embedder.dimension if changing_model else self._check_model()
        self.index: VectorIndex = create_index(settings.index_backend, self.dimension)
        self.clusterer = OnlineClusterer(settings.cluster, self.dimension)
        publishing = published.publishes(settings, read_only)
        self.publisher = published.publisher(
            settings, None if share is None else share.role) if publishing and not read_only \
            else None
        """Publishes the writer's snapshots for readers on other machines (a
        PostgreSQL store only; see cluster/service/published.py)."""
        self.published: published.PublishedIndexes | None = None
        """A reader's copies of what the writers published (queue mode)."""
        if publishing and read_only:
            self.published = published.PublishedIndexes(settings, self.store)

    # -- opening -------------------------------------------------------------
    def load(self) -> None:
        """Bring the index, clusterer and duplicate index up to the store (a
        reader has no use for the duplicate index: it never ingests)."""
        self._load_index()
        self.restore_clusterer()
        if not self.read_only:
            self._load_duplicates()

    def _check_model(self) -> int:
        """The vectors' dimension; refuses a store made by another model."""
        with self.store.read() as reader:
            stored_model = reader.meta("embedding_model")
            stored_dimension = reader.meta("dimension")
        if stored_model is not None and stored_model != self.embedder.model_name:
            raise IndexMismatch(
                f"the store's vectors were made by model {stored_model!r} but "
                f"{self.embedder.model_name!r} is configured; run "
                "`newsclusters rebuild --reembed` to re-embed them"
            )
        if stored_dimension is not None:
            return int(stored_dimension)
        dimension = self.embedder.dimension
        if self.read_only:  # the writer records it
            return dimension
        with self.store.write() as writer:
            writer.set_meta("embedding_model", self.embedder.model_name)
            writer.set_meta("dimension", str(dimension))
        return dimension

    def _load_index(self) -> None:
        if self.read_only:
            self.index, self.snapshot_seq, self.index_seq = self.load_replica()
            return
        settings = self.settings
        loaded = load_snapshot(settings.index_dir, self.embedder.model_name, self.dimension,
                               settings.index_backend, settings.index_nprobe,
                               store=self.store_id)
        with self.store.read() as reader:
            seq = reader.index_seq()
            if loaded is not None and not self._snapshot_follows_single_writers(reader):
                LOG.info("index: a single writer changed the store after this partition's "
                         "snapshot; rebuilding the partition's index from the store")
                loaded = None
            if loaded is None:
                self.index = index_from_store(reader, settings.index_backend, self.dimension,
                                              None, settings.ivf_threshold,
                                              settings.index_nprobe, self.keep)
                self.snapshot_seq = 0
            else:
                self.index, manifest = loaded
                self.snapshot_seq = manifest.store_seq
                if manifest.store_seq > seq:
                    raise IndexMismatch(
                        f"index snapshot covers store sequence {manifest.store_seq} but the "
                        f"store only reaches {seq} (was the store replaced?); run "
                        "`newsclusters rebuild`"
                    )
                replay_index_log(self.index, reader, manifest.store_seq, self.keep)
        if loaded is None and self.share is not None:
            self._follow_single_writers(seq)

    def _snapshot_follows_single_writers(self, reader: Reader) -> bool:
        """A partition's snapshot is stale once a single writer opened the
        store after it was written (cluster/scaleout/single_writer.py)."""
        if self.share is None:
            return True
        from cluster.scaleout.single_writer import snapshot_follows

        return snapshot_follows(reader, self.share.role)

    def _follow_single_writers(self, seq: int) -> None:
        """A partition that built its index from the store as of index log
        ``seq``: snapshot it, then record that the snapshot follows every
        single writer so far (in this order: a crash between the two leaves
        the old mark, and the next start builds again)."""
        assert self.share is not None
        from cluster.scaleout.single_writer import mark_followed

        self.snapshot(seq, publish_in_background=True)
        with self.store.write() as writer:
            mark_followed(writer, self.share.role)

    @property
    def keep(self) -> Keep | None:
        """Which articles this writer's index holds: all, or a partition's, the
        articles of the stories it owns (those of unowned stories fall to
        partition 0), so that every article is in one partition's index."""
        share = self.share
        if share is None:
            return None

        def owned(reader: Reader, keys: np.ndarray, vectors: Matrix) -> np.ndarray:
            placed = reader.placement(keys.tolist())
            owners = reader.story_partitions({story for story, _ in placed.values()})
            return np.array([owners.get(placed[key][0], 0) == share.index if key in placed
                             else share.index == 0 for key in keys.tolist()], dtype=bool)
        return owned

    def load_replica(self) -> tuple[ReplicaIndex, int, int]:
        """A reader's index, with (the sequence its sealed parts reach, the
        caught-up sequence): in queue mode what the writers published, fetched
        (cluster/service/published.py); else the current snapshot in the
        index folder it shares with the writer. Both memory-mapped, with the
        store's index log since them. Without a readable snapshot the sealed
        part is built from the store."""
        settings = self.settings
        sealed: tuple[ReplicaIndex, int] | None = None
        if self.published is not None:
            self.published.fetch()
            sealed = self.published.load(self.embedder.model_name, self.dimension)
        else:
            loaded = load_snapshot(settings.index_dir, self.embedder.model_name,
                                   self.dimension, settings.index_backend,
                                   settings.index_nprobe, mapped=True, owner=False,
                                   store=self.store_id)
            if loaded is not None:
                sealed = ReplicaIndex(loaded[0]), loaded[1].store_seq
        with self.store.read() as reader:
            seq = reader.index_seq()
            if sealed is None or sealed[1] > seq:
                built = index_from_store(reader, settings.index_backend, self.dimension,
                                         None, settings.ivf_threshold, settings.index_nprobe)
                return ReplicaIndex(built), seq, seq
            replica, reached = sealed
            replay_index_log(replica, reader, reached)
            return replica, reached, seq

    def restore_clusterer(self) -> None:
        """Joinable stories from the store, with their lexical profiles rebuilt
        from their members' text under the stored document frequencies. The
        new clusterer replaces the old one only when complete, so a reader
        that looks meanwhile sees the old one whole."""
        self.term_delta.clear()
        with self.store.read() as reader:
            terms = TermStats(reader.article_count(), reader.term_frequencies())
            clock = reader.meta(self.meta_key("stream_time"))
            stream_time = None if clock is None else float(clock)
            clusterer = OnlineClusterer(self.settings.cluster, self.dimension,
                                        StoreStoryLoader(self.store, self.weights))
            now = self.wall_clock() if self.settings.clock == "wall" else stream_time
            cutoff = clusterer.quiet_cutoff(now)
            expected = 0 if cutoff is None else reader.live_stories_before(cutoff)
            owned = self.owned_stories(reader)
            states = reader.live_story_states()
            pairs = reader.split_pairs()
            if owned is not None:
                states = (state for state in states if state[0] in owned)
                pairs = [pair for pair in pairs if pair[0] in owned or pair[1] in owned]
            clusterer.restore(states, now, expected)
            clusterer.keep_apart(pairs)
            clusterer.restore_time_evidence(
                _time_evidence(reader.meta(self.meta_key(TIME_EVIDENCE))))
        self.terms, self.stream_time, self.clusterer = terms, stream_time, clusterer

    def owned_stories(self, reader: Reader) -> set[StoryId] | None:
        """The stories this partition owns (None: a single writer owns all)."""
        if self.share is None:
            return None
        index = self.share.index
        return {story for story, owner in reader.story_partitions().items() if owner == index}

    def apply_folds(self, folds: Sequence[tuple[StoryId, StoryId]],
                    index_span: tuple[int, int]) -> None:
        """A partition after a barrier (cluster/scaleout/partitions.py): the
        coordinator folded each absorbed story into the kept one in the store
        and logged the moved articles (``index_span`` of the index log); they
        leave the index of the absorbed story's partition for the kept one's,
        the absorbed stories leave the clusterer, and the kept ones this
        partition owns are read back whole. All of it is idempotent: a
        restarted partition may apply a barrier's folds again."""
        if self.share is None:
            return
        if not folds:
            self.snapshot_cap = None
            return
        kept = [keep for keep, _ in folds]
        with self.lock:
            with self.store.read() as reader:
                owners = reader.story_partitions(kept)
                rows = reader.stories_by_ids(kept)
                replay_index_log(self.index, reader, index_span[0], self.keep,
                                 until=index_span[1])
            for keep, absorb in folds:
                self.clusterer.drop(absorb)
                row = rows.get(keep)
                if owners.get(keep) != self.share.index or row is None:
                    continue
                self.clusterer.drop(keep)
                if row.status in ("active", "dormant") and row.article_count > 0:
                    self.clusterer.restore([(keep, row.article_count, row.centroid_sum,
                                             row.first_seen, row.last_updated)], self.clock())
            self.snapshot_cap = None

    def hold_snapshots(self) -> None:
        """A partition about to record a batch: until it applies the batch's
        barrier, its snapshots claim no more of the index log than now."""
        with self.store.read() as reader:
            self.snapshot_cap = reader.index_seq()

    def owners_of_articles(self, article_ids: Sequence[str]) -> dict[str, int | None]:
        """For each of these articles that is stored: the partition that owns
        its story (None: its story has no owner)."""
        with self.store.read() as reader:
            stored = reader.articles_by_ids(article_ids)
            owners = reader.story_partitions(
                a.story_id for a in stored.values() if a.story_id is not None)
        return {article_id: None if article.story_id is None else owners.get(article.story_id)
                for article_id, article in stored.items()}

    def owns(self, story_id: StoryId) -> bool:
        """Whether this writer may change the story: a partition changes only
        the live stories it holds."""
        if self.share is None:
            return True
        return self.clusterer.holds(story_id)

    def meta_key(self, key: str) -> str:
        """Where this writer keeps its own state: a partition's beside the others'."""
        return key if self.share is None else f"{key}:{self.share.role}"

    @property
    def partition(self) -> int | None:
        """The partition new stories belong to (None: a single writer)."""
        return None if self.share is None else self.share.index

    def _load_duplicates(self) -> None:
        """The duplicate index holds the articles of the last window of the stream."""
        now = self.clock()
        horizon = None if now is None else now - self.duplicates.window
        with self.store.read() as reader:
            signatures = reader.recent_signatures(horizon)
            owned = self.owned_stories(reader)
            if owned is not None:  # a partition's: its own stories' articles
                placed = reader.placement(key for key, _, _ in signatures)
                signatures = [row for row in signatures
                              if row[0] in placed and placed[row[0]][0] in owned]
            self.duplicates.load(signatures)

    def reset_for_recluster(self) -> None:
        """Empty index, clusterer and term statistics, for a replay of the store."""
        self.index = create_index(self.settings.index_backend, self.dimension)
        self.clusterer = OnlineClusterer(self.settings.cluster, self.dimension)
        self.stream_time = None
        self.terms = TermStats()
        self.term_delta.clear()

    # -- time and terms ------------------------------------------------------
    def clock(self) -> float | None:
        """Now, for ageing: the newest published_at seen, or the wall clock."""
        return self.wall_clock() if self.settings.clock == "wall" else self.stream_time

    def advance_clock(self, timestamp: float | None) -> None:
        if timestamp is not None and (self.stream_time is None or timestamp > self.stream_time):
            self.stream_time = timestamp

    def counts(self, title: str, text: str) -> Counter[str]:
        return article_terms(embedding_text(title, text, self.settings.lead_chars))

    def weights(self, title: str, text: str) -> Weights:
        return self.terms.weigh(self.counts(title, text))

    def count_terms(self, counts: Counter[str], sign: int) -> None:
        """Update document frequencies in memory; the delta is written with the batch."""
        if sign > 0:
            self.terms.add(counts)
        else:
            self.terms.remove(counts)
        for term in counts:
            self.term_delta[term] += sign

    def flush_terms(self, writer: Writer) -> None:
        """Write what the batch changed in memory: term frequencies, stream clock."""
        writer.take_commit_turn()
        writer.add_term_frequencies(dict(self.term_delta))
        self.term_delta.clear()
        if self.stream_time is not None:
            writer.set_meta(self.meta_key("stream_time"), repr(self.stream_time))
            stored = writer.meta("stream_time") if self.share is not None else None
            if stored is None or float(stored) < self.stream_time:  # the newest of all
                writer.set_meta("stream_time", repr(self.stream_time))
        if self.settings.cluster.adaptive_time_scale:
            writer.set_meta(self.meta_key(TIME_EVIDENCE),
                            json.dumps(self.clusterer.time_evidence()))

    # -- neighbours ----------------------------------------------------------
    def neighbours(
        self, reader: Reader, vector: Vector, exclude: int | None, k: int,
        pairs: list[tuple[int, float]] | None = None,
    ) -> list[Neighbour]:
        """The stored articles nearest to ``vector`` with their stories;
        ``pairs`` are (key, similarity) already found by a batch search."""
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

    def index_unindexed(self) -> None:
        unindexed = self.changes.unindexed
        if unindexed:
            keys = np.array([key for key, _ in unindexed], dtype=np.int64)
            self.index.add(keys, np.stack([vector for _, vector in unindexed]))
            unindexed.clear()

    # -- writing -------------------------------------------------------------
    @contextmanager
    def transaction(self, touched: list[ArticleKey] | None = None,
                    late_turn: bool = False) -> Iterator[Writer]:
        """One store write under the service lock. If anything fails inside it,
        the store rolls back and the in-memory state is made to match the
        store again (``touched``: the article keys the write had changed in
        memory so far), so the write is all or nothing everywhere. A partition
        with ``late_turn`` works in parallel with the others until it calls
        ``Writer.take_commit_turn``."""
        with self.lock:
            try:
                with self.store.write(late_turn=late_turn) as writer:
                    yield writer
            except NotFound:
                raise  # raised by a lookup, before anything changed
            except BaseException:
                self.recover(touched or [])
                raise

    @contextmanager
    def locked_write(self) -> Iterator[Writer]:
        """A store write under the service lock that changes nothing in memory
        (what the presenters write with)."""
        with self.lock, self.store.write() as writer:
            yield writer

    def recover(self, touched: Sequence[ArticleKey]) -> None:
        """After a rolled-back write: make the index and clusterer match the store."""
        self.changes.clear()
        keys = np.array(sorted(set(touched)), dtype=np.int64)
        self.index.remove(keys)
        self.duplicates.remove(keys.tolist())
        with self.store.read() as reader:
            stored = reader.articles_by_keys(keys.tolist())
            present = [k for k in keys.tolist() if k in stored]
            if present:
                self.index.add(np.array(present, dtype=np.int64), reader.vectors(present))
                self.duplicates.load(reader.signatures_of(present))
        self.restore_clusterer()

    # -- snapshots -----------------------------------------------------------
    def maybe_snapshot(self) -> None:
        """Snapshot the index when enough changed since the last one. Called
        after a write committed, so it is best effort: the write is already
        acknowledged by the store, and a failure (a full disk) is logged and
        counted, never passed to the writer's caller."""
        try:
            seq = self.covered_seq()
            settings = self.settings
            interval = max(settings.snapshot_every,
                           int(settings.snapshot_share * len(self.index)))
            if seq - self.snapshot_seq >= interval:
                self.snapshot(seq, publish_in_background=True)
        except Exception:
            self.snapshot_failures += 1
            LOG.exception("index: the snapshot after a write failed (the write is stored; "
                          "the next snapshot or start-up catches up from the store)")

    def covered_seq(self) -> int:
        """How far into the store's index log this writer's index is known to
        reach: the store's sequence, or for a partition waiting at a barrier
        the sequence before the coordinator's folds it has not applied yet
        (``snapshot_cap``), so that a snapshot never claims entries its index
        lacks."""
        with self.store.read() as reader:
            seq = reader.index_seq()
        return seq if self.snapshot_cap is None else min(seq, self.snapshot_cap)

    def snapshot(self, seq: int | None = None, publish_in_background: bool = False) -> None:
        """Write the index to disk as the current snapshot, in the layout its
        size calls for, and publish it for readers on other machines (a
        PostgreSQL store): before returning, or with ``publish_in_background``
        (after a write) on the publisher's thread."""
        with self.lock:
            settings = self.settings
            if seq is None:
                seq = self.covered_seq()
            with self.store.read() as reader:
                self.index = fit_layout(self.index, reader, settings.index_backend,
                                        self.dimension, settings.ivf_threshold,
                                        settings.index_nprobe, self.keep)
            write_snapshot(settings.index_dir, self.index, self.embedder.model_name, seq,
                           self.store_id)
            self.snapshot_seq = seq
        if self.publisher is not None:
            self.publisher.request()
            if not publish_in_background:
                self.publisher.wait(timeout=3600.0)

    def newer_published(self, at_most_every_s: float) -> bool:
        """A reader: whether what was published, or the snapshot of the writer
        whose index folder it shares, reaches further than its replica
        (fetching first in queue mode, at most every ``at_most_every_s``)."""
        if self.published is not None:
            self.published.fetch(at_most_every_s)
            return self.published.newer()
        return current_reach(self.settings.index_dir) > self.snapshot_seq

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()
        self.store.close()
