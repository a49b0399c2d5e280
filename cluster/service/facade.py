"""The story service: the one object the API, the command line and the
evaluation call.

A facade over parts that each own one job and share one
``ServiceRuntime`` (store, index, clusterer, clock, write lock):

    Ingest          the write path: batches in, deletions
    Maintenance     ageing, merges, second looks, splits (inside each write)
    Queries         related coverage, stories, articles, health (reads)
    Rebuilder       the index from the store; re-embedding; re-clustering
    PresentationScheduler   headlines, labels, summaries: per write or later

Constructing a service only stores its settings; ``open()`` opens the store,
loads the index, restores the clusterer and starts background presentation,
and ``close()`` stops and closes them (``with StoryService(s) as service:``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from cluster.articles.incoming import Article
from cluster.clustering.online import OnlineClusterer
from cluster.embedding.models import Embedder, create_embedder
from cluster.errors import ClusterError
from cluster.index.backends import VectorIndex
from cluster.service.batch_preparation import PreparedBatch
from cluster.service.following import Follower
from cluster.service.ingest import Ingest
from cluster.service.maintenance import Maintenance
from cluster.service.presenting import PresentationScheduler
from cluster.service.queries import Queries
from cluster.service.rebuild import Rebuilder
from cluster.service.runtime import ServiceRuntime
from cluster.service.storyline_views import StorylineQuery
from cluster.service.view_builders import RelatedFilters, StoryQuery
from cluster.service.views import (
    ArticleView,
    DayCount,
    IngestResult,
    Readiness,
    RelatedResult,
    StoryDetail,
    StoryHistory,
    StorylineDetail,
    StorylinePage,
    StoryPage,
    StorySummary,
)
from cluster.settings import Settings
from cluster.store import Store
from cluster.stories.worker import PresentationWorker
from cluster.text.duplicates import NearDuplicateIndex
from cluster.text.lexical import TermStats
from cluster.types import Progress, StoryId, StorylineId

if TYPE_CHECKING:
    from cluster.scaleout.routing import Share

T = TypeVar("T")


class ServiceClosed(ClusterError):
    """The service was used before ``open()`` or after ``close()``."""

    def __init__(self) -> None:
        super().__init__("the story service is not open: call open() first")


class ReadOnlyService(ClusterError):
    """A write was asked of a reader process's service."""

    def __init__(self) -> None:
        super().__init__("this is a reader: writes go to the writer process")


class StoryService:
    """Ingest, related coverage, stories, maintenance and rebuilds."""

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, *,
        changing_model: bool = False, wall_clock: Callable[[], float] = time.time,
        present_per_batch: bool = True, read_only: bool = False, share: Share | None = None,
    ) -> None:
        """``share``: one partition of a partitioned writer (see
        cluster/scaleout/partitions.py)."""
        self.settings = settings
        self.share = share
        self.read_only = read_only
        self.follower: Follower | None = None
        self._embedder = embedder
        self._changing_model = changing_model
        self._wall_clock = wall_clock
        self._present_per_batch = present_per_batch
        self._runtime: ServiceRuntime | None = None
        self._ingest: Ingest | None = None
        self._queries: Queries | None = None
        self._maintenance: Maintenance | None = None
        self._rebuilder: Rebuilder | None = None
        self._presentation: PresentationScheduler | None = None

    @classmethod
    def reader(cls, settings: Settings, embedder: Embedder | None = None) -> StoryService:
        """A service for a reader process: it answers every read from the
        store and a replica of the index that follows the writer's commits
        (``cluster/service/following.py``), and refuses every write."""
        return cls(settings, embedder, read_only=True)

    @classmethod
    def for_rebuild(cls, settings: Settings, embedder: Embedder | None = None) -> StoryService:
        """A service that may re-embed a store made by another model: the
        stored vectors and snapshot belong to the old model, so opening it
        loads neither."""
        return cls(settings, embedder, changing_model=True)

    # -- lifetime ------------------------------------------------------------
    def open(self) -> StoryService:
        """Open the store, load the index and clusterer, finish what a crash
        left, and start background presentation. Returns the service."""
        if self._runtime is not None:
            return self
        embedder = self._embedder if self._embedder is not None else create_embedder(
            self.settings)
        runtime = ServiceRuntime(self.settings, embedder, self._wall_clock,
                                 changing_model=self._changing_model, read_only=self.read_only,
                                 share=self.share)
        if self.read_only:
            try:
                runtime.load()
                self.follower = Follower(runtime, self.settings.reader_poll_ms / 1000,
                                         self.settings.reader_refresh_ms / 1000)
                self.follower.start()
            except BaseException:
                runtime.close()
                raise
            self._runtime, self._queries = runtime, Queries(runtime)
            return self
        try:
            presentation = PresentationScheduler(runtime, self._present_per_batch)
            maintenance = Maintenance(runtime, lambda: presentation.inline)
            ingest = Ingest(runtime, maintenance, presentation.notify)
            self._rebuilder = Rebuilder(runtime, ingest, maintenance, presentation.notify)
            self._runtime, self._ingest, self._maintenance = runtime, ingest, maintenance
            self._queries, self._presentation = Queries(runtime), presentation
            if not self._changing_model:
                runtime.load()
                self._finish_interrupted()
                presentation.start()
        except BaseException:
            self.close()
            runtime.close()
            raise
        return self

    def _finish_interrupted(self) -> None:
        """Stories left unpresented by a crash (or by a store from before
        presentation existed) are presented now, with a worker's unfinished
        chunk released first."""
        runtime = self._part(self._runtime)
        with runtime.store.read() as reader:
            stale = reader.dirty_story_count()
        if stale:
            with runtime.locked_write() as writer:
                writer.recover_claims()
            self.maintain()

    def close(self) -> None:
        """Stop background presentation (changed stories stay marked in the
        store) and close the store. Safe to call twice."""
        if self.follower is not None:
            self.follower.close()
            self.follower = None
        if self._presentation is not None:
            self._presentation.close()
        if self._runtime is not None:
            self._runtime.close()
        self._runtime = self._ingest = self._queries = None
        self._maintenance = self._rebuilder = self._presentation = None

    def __enter__(self) -> StoryService:
        return self.open()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _part(self, part: T | None) -> T:
        if part is None:
            if self.read_only and self._runtime is not None:
                raise ReadOnlyService()
            raise ServiceClosed()
        return part

    @property
    def is_open(self) -> bool:
        return self._runtime is not None

    def write_waiting(self) -> int:
        """Writes (and presentation runs) waiting for the write lock."""
        return self._part(self._runtime).lock.waiting

    # -- the parts' shared state, for reading --------------------------------
    @property
    def store(self) -> Store:
        return self._part(self._runtime).store

    @property
    def index(self) -> VectorIndex:
        return self._part(self._runtime).index

    @property
    def clusterer(self) -> OnlineClusterer:
        return self._part(self._runtime).clusterer

    @property
    def embedder(self) -> Embedder:
        return self._part(self._runtime).embedder

    @property
    def duplicates(self) -> NearDuplicateIndex:
        return self._part(self._runtime).duplicates

    @property
    def terms(self) -> TermStats:
        return self._part(self._runtime).terms

    @property
    def presentation_worker(self) -> PresentationWorker | None:
        """The presentation worker process, if one runs."""
        return self._part(self._presentation).worker

    # -- writes --------------------------------------------------------------
    def ingest(self, articles: Sequence[Article]) -> list[IngestResult]:
        """Store, index and assign a batch, all or nothing; one result per article."""
        return self._part(self._ingest).ingest(articles)

    def prepare(self, articles: Sequence[Article],
                embedder: Embedder | None = None) -> PreparedBatch:
        """Validate and embed a batch without the write lock (see ``Ingest.prepare``)."""
        return self._part(self._ingest).prepare(articles, embedder)

    def ingest_prepared(self, batch: PreparedBatch) -> list[IngestResult]:
        """Write a prepared batch in one transaction."""
        return self._part(self._ingest).ingest_prepared(batch)

    def delete_article(self, article_id: str) -> None:
        """Delete an article; a story left empty disappears."""
        self._part(self._ingest).delete_article(article_id)

    def maintain(self) -> None:
        """Age stories and merge converged ones now. On the wall clock nothing else
        moves time forward between ingests, so the server calls this periodically."""
        runtime, maintenance = self._part(self._runtime), self._part(self._maintenance)
        with runtime.transaction() as writer:
            maintenance.run(writer)
            runtime.flush_terms(writer)
        self._part(self._presentation).notify()

    def snapshot(self) -> None:
        """Write the index to disk as the current snapshot."""
        self._part(self._runtime).snapshot()

    def rebuild(self, reembed: bool = False, recluster: bool = False,
                progress: Progress | None = None) -> dict[str, object]:
        """Rebuild the index from the store (see ``Rebuilder.rebuild``)."""
        return self._part(self._rebuilder).rebuild(reembed, recluster, progress)

    def refresh_presentations(self, progress: Progress | None = None) -> None:
        """Present every changed story now (after an import with per-batch
        presentation off)."""
        self._part(self._presentation).refresh_all(progress)

    def wait_for_presentation(self, timeout: float | None = None, hurry: bool = False) -> bool:
        """Block until the background presenter has presented every change so far."""
        return self._part(self._presentation).wait(timeout, hurry)

    # -- reads ---------------------------------------------------------------
    def get_article(self, article_id: str) -> ArticleView:
        return self._part(self._queries).get_article(article_id)

    def article_count(self) -> int:
        return self._part(self._queries).article_count()

    # -- a partition of a partitioned writer (cluster/scaleout/partitions.py) --
    def apply_folds(self, folds: Sequence[tuple[int, int]], index_span: tuple[int, int],
                    partition: int) -> None:
        """Bring the index and clusterer up to the coordinator's folds at a barrier."""
        runtime = self._part(self._runtime)
        if runtime.partition != partition:
            raise ClusterError(f"this service is not partition {partition}")
        runtime.apply_folds([(StoryId(k), StoryId(a)) for k, a in folds], index_span)

    def hold_snapshots(self) -> None:
        """A partition about to record a batch (see ``ServiceRuntime.hold_snapshots``)."""
        self._part(self._runtime).hold_snapshots()

    def owners_of_articles(self, article_ids: Sequence[str]) -> dict[str, int]:
        """For each of these articles that is stored, the partition whose story
        holds it (one with no owner falls to partition 0)."""
        owners = self._part(self._runtime).owners_of_articles(article_ids)
        return {article_id: 0 if owner is None else owner
                for article_id, owner in owners.items()}

    def related(self, article_id: str, filters: RelatedFilters | None = None) -> RelatedResult:
        """Other coverage of a stored article: its story first, then neighbours."""
        return self._part(self._queries).related(article_id, filters)

    def related_to_text(self, title: str, text: str, filters: RelatedFilters | None = None,
                        timestamp: float | None = None) -> RelatedResult:
        """Related coverage for unstored text, and the story it would join."""
        return self._part(self._queries).related_to_text(title, text, filters, timestamp)

    def list_stories(self, query: StoryQuery | None = None) -> StoryPage:
        return self._part(self._queries).list_stories(query)

    def search_stories(self, text: str, query: StoryQuery | None = None) -> StoryPage:
        """Joinable stories nearest to ``text`` by centroid."""
        return self._part(self._queries).search_stories(text, query)

    def get_story(self, story_id: int, limit: int = 50, cursor: str | None = None) -> StoryDetail:
        return self._part(self._queries).get_story(story_id, limit, cursor)

    def story_events(self, story_id: int, limit: int = 100,
                     cursor: str | None = None) -> StoryHistory:
        return self._part(self._queries).story_events(story_id, limit, cursor)

    def list_storylines(self, query: StorylineQuery | None = None) -> StorylinePage:
        return self._part(self._queries).list_storylines(query)

    def get_storyline(self, storyline_id: int) -> StorylineDetail:
        """One storyline with its stories and timeline; an id that was merged
        answers with the storyline that took its stories."""
        return self._part(self._queries).get_storyline(storyline_id)

    def related_stories(self, story_id: int, k: int = 5) -> list[StorySummary]:
        return self._part(self._queries).related_stories(story_id, k)

    def story_timelines(self, story_ids: list[int]) -> dict[int, list[DayCount]]:
        return self._part(self._queries).story_timelines(story_ids)

    def story_counts(self) -> dict[str, int]:
        return self._part(self._queries).story_counts()

    def story_headlines(self) -> dict[int, tuple[str, str]]:
        return self._part(self._queries).story_headlines()

    def assignments(self) -> dict[str, StoryId]:
        return self._part(self._queries).assignments()

    def article_storylines(self) -> dict[str, StorylineId]:
        """The storyline of every article whose story has one (evaluation)."""
        return self._part(self._queries).article_storylines()

    def clock(self) -> float | None:
        """The service's now: the newest publication time seen (stream clock)
        or the wall clock; what a guess for unstored text assumes by default."""
        return self._part(self._runtime).clock()

    def store_seq(self) -> int:
        """The store's index log sequence now: every acknowledged write so far
        is at or below it."""
        with self._part(self._runtime).store.read() as reader:
            return reader.index_seq()

    def caught_up_seq(self) -> int:
        """The store sequence this service's index has caught up to (a
        writer is always caught up)."""
        runtime = self._part(self._runtime)
        return runtime.index_seq if self.read_only else self.store_seq()

    def readiness(self) -> Readiness:
        """Whether the store is reachable and the index in sync with it; a
        reader is in sync while it keeps up (it caught up within a second or
        two, whatever the writer has committed since)."""
        state = self._part(self._queries).readiness()
        if self.follower is None:
            return state
        runtime = self._part(self._runtime)
        behind = max(0, state.store_seq - runtime.index_seq)
        keeping_up = self.follower.lag_seconds() < max(2.0, 5 * self.follower.poll_s)
        return dataclasses.replace(state, in_sync=behind == 0 or keeping_up, role="reader",
                                   behind=behind)
