"""A partitioned writer on a real PostgreSQL server, in one process (the Ray
actors that host it are tested in tests/test_scaleout.py): two partitions
and a coordinator build the stories one writer builds, within 0.01 BCubed
F1, the same twice; each role runs once; a partition that stops mid-stream
and starts again loses and doubles nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from cluster.articles.importer import batches_of
from cluster.articles.incoming import Article
from cluster.articles.jsonl import read_labelled
from cluster.embedding.cache import CachingEmbedder
from cluster.embedding.models import Embedder, HashingEmbedder, SentenceTransformerEmbedder
from cluster.evaluation.replay import labelled_items, run_clusterer
from cluster.evaluation.scores import bcubed
from cluster.scaleout.coordinator import Coordinator
from cluster.scaleout.embedding_worker import EmbeddingWorker
from cluster.scaleout.partitions import PartitionConsumer, PartitionLedger
from cluster.scaleout.queue import IngestQueue
from cluster.scaleout.routing import RoutingPlan, Share, train_plan
from cluster.service.facade import StoryService
from cluster.settings import Settings
from cluster.store.lock import StoreInUse
from cluster.store.postgres import PostgresStore
from tests.conftest import DEMO, SHARED_DATA, PostgresDatabases, make_settings
from tests.partitioned_stream import each_article_stored_once, town_storms


def partitioned_settings(tmp_path: Path, postgres: PostgresDatabases, **values: object
                         ) -> Settings:
    url = postgres.url_for(tmp_path)
    PostgresStore(url).close()  # the schema, as the deployment's first start makes it
    return make_settings(tmp_path, store_url=url, **values)


@dataclass
class Partitioned:
    """A coordinator and its partitions, each on a thread of its own."""

    settings: Settings
    partitions: int
    embedder: Embedder | None = None
    coordinator: Coordinator | None = None
    services: dict[int, StoryService] = field(default_factory=dict)
    consumers: dict[int, PartitionConsumer] = field(default_factory=dict)
    stops: dict[str, threading.Event] = field(default_factory=dict)
    threads: dict[str, threading.Thread] = field(default_factory=dict)

    def start_coordinator(self, plan_sample: int = 2000) -> RoutingPlan:
        url = self.settings.store_location
        self.coordinator = Coordinator(self.settings, self.partitions, IngestQueue(url),
                                       PartitionLedger(url), plan_sample=plan_sample)
        deadline = time.monotonic() + 60
        while (plan := self.coordinator.prepare()) is None:
            assert time.monotonic() < deadline, "no routing plan"
            time.sleep(0.05)
        self._thread("coordinator", self.coordinator.run)
        return plan

    def start_partition(self, index: int, plan: RoutingPlan) -> None:
        url = self.settings.store_location
        service = StoryService(self.settings, self.embedder, share=Share(index, plan)).open()
        consumer = PartitionConsumer(service, IngestQueue(url), PartitionLedger(url),
                                     Share(index, plan))
        self.services[index], self.consumers[index] = service, consumer
        self._thread(f"partition-{index}", consumer.run)

    def stop_partition(self, index: int) -> None:
        self._stop(f"partition-{index}")
        consumer = self.consumers.pop(index)
        consumer.queue.close()
        consumer.ledger.close()
        self.services.pop(index).close()

    def _thread(self, name: str, target: object) -> None:
        stop = threading.Event()
        thread = threading.Thread(target=target, args=(stop,), name=name, daemon=True)  # type: ignore[arg-type]
        self.stops[name], self.threads[name] = stop, thread
        thread.start()

    def _stop(self, name: str) -> None:
        self.stops.pop(name).set()
        self.threads.pop(name).join(60)

    def stop(self) -> None:
        for index in list(self.services):
            self.stop_partition(index)
        if self.coordinator is not None:
            self._stop("coordinator")
            self.coordinator.queue.close()
            self.coordinator.ledger.close()
            self.coordinator.close()


@contextmanager
def queue_of(settings: Settings) -> Iterator[IngestQueue]:
    queue = IngestQueue(settings.store_location)
    try:
        yield queue
    finally:
        queue.close()


def embed_all(queue: IngestQueue, settings: Settings, embedder: Embedder | None = None) -> None:
    worker = EmbeddingWorker(queue, embedder or HashingEmbedder(), settings.lead_chars, "test",
                             batch=256)
    while worker.embed_some():
        pass


def drained(queue: IngestQueue, timeout: float = 240) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue.oldest_batch_after(None) is None:
            return True
        time.sleep(0.05)
    return False


@contextmanager
def partitioned(settings: Settings, partitions: int = 2,
                embedder: Embedder | None = None) -> Iterator[Partitioned]:
    running = Partitioned(settings, partitions, embedder)
    try:
        yield running
    finally:
        running.stop()


def run_partitioned(settings: Settings, batches: list[list[Article]],
                    embedder: Embedder, partitions: int = 2) -> dict[str, int]:
    with queue_of(settings) as queue:
        for batch in batches:
            queue.enqueue(batch)
        embed_all(queue, settings, embedder)
        with partitioned(settings, partitions, embedder) as running:
            plan = running.start_coordinator()
            for index in range(partitions):
                running.start_partition(index, plan)
            assert drained(queue), running.coordinator.status()  # type: ignore[union-attr]
    store = PostgresStore(settings.store_location, read_only=True)
    try:
        with store.read() as reader:
            return {k: int(v) for k, v in reader.assignments().items()}
    finally:
        store.close()


def groups(assignments: dict[str, int]) -> set[frozenset[str]]:
    stories: dict[int, set[str]] = {}
    for article, story in assignments.items():
        stories.setdefault(story, set()).add(article)
    return {frozenset(members) for members in stories.values()}


LABELLED = ("allsides_dev.jsonl", "ecbplus_dev.jsonl", "uci_headlines.jsonl")


@pytest.fixture(scope="module")
def model_vectors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedder]:
    """The packaged model, each text embedded once for all the runs here."""
    embedder = CachingEmbedder(SentenceTransformerEmbedder("all-MiniLM-L6-v2"),
                               tmp_path_factory.mktemp("vectors") / "vectors.sqlite3")
    yield embedder


@pytest.mark.model
@pytest.mark.parametrize("name", LABELLED if SHARED_DATA.exists() else ("demo",))
def test_two_partitions_build_the_single_writers_stories_and_the_same_twice(
    name: str, tmp_path: Path, postgres: PostgresDatabases, model_vectors: Embedder,
) -> None:
    """Each labelled file (the demo corpus without the shared data), with the
    packaged model: routing by content needs vectors that place one event's
    articles together (hashed words do not)."""
    items = labelled_items(SHARED_DATA / name) if name != "demo" else read_labelled(DEMO)
    articles = [item.article for item in items]
    batches = batches_of(items, 64)
    single = make_settings(tmp_path / "single", embedder="sentence-transformers")
    predicted, _ = run_clusterer(single, model_vectors, items, batch_size=64)
    gold = [item.cluster for item in items]
    first = run_partitioned(partitioned_settings(tmp_path / "one", postgres,
                                                 embedder="sentence-transformers"),
                            batches, model_vectors)
    again = run_partitioned(partitioned_settings(tmp_path / "two", postgres,
                                                 embedder="sentence-transformers"),
                            batches, model_vectors)
    assert sorted(first) == sorted(a.id for a in articles)
    f1_single = bcubed(gold, predicted)[2]
    f1_partitioned = bcubed(gold, [first[a.id] for a in articles])[2]
    print(f"{name}: B3 F1 one writer {f1_single:.4f}, two partitions {f1_partitioned:.4f}")
    assert abs(f1_single - f1_partitioned) <= 0.01
    assert groups(first) == groups(again)  # the same input in the same order


def test_each_role_runs_once_and_never_beside_a_single_writer(
    tmp_path: Path, postgres: PostgresDatabases,
) -> None:
    settings = partitioned_settings(tmp_path, postgres)
    url = settings.store_location
    plan = train_plan(np.eye(8, 256, dtype=np.float32), 2)
    first = StoryService(settings, share=Share(0, plan)).open()
    try:
        with pytest.raises(StoreInUse, match="partition-0"):
            StoryService(settings, share=Share(0, plan)).open()
        other = StoryService(settings, share=Share(1, plan)).open()  # another role: fine
        other.close()
        with pytest.raises(StoreInUse, match=r"single writer|another writer"):
            PostgresStore(url)
    finally:
        first.close()
    with pytest.raises(StoreInUse):  # and the other way round
        single = PostgresStore(url)
        try:
            PostgresStore(url, role="partition-0")
        finally:
            single.close()


def test_a_partition_that_stops_mid_stream_loses_and_doubles_nothing(
    tmp_path: Path, postgres: PostgresDatabases,
) -> None:
    settings = partitioned_settings(tmp_path, postgres)
    articles = town_storms(900, towns=40, outlets=7)
    with queue_of(settings) as queue, partitioned(settings) as running:
        for start in range(0, 300, 30):
            queue.enqueue(articles[start:start + 30])
        embed_all(queue, settings)
        plan = running.start_coordinator(plan_sample=300)
        running.start_partition(0, plan)
        running.start_partition(1, plan)
        for start in range(300, 600, 30):
            queue.enqueue(articles[start:start + 30])
        embed_all(queue, settings)
        running.stop_partition(1)  # mid-stream: the others wait at the next barrier
        for start in range(600, 900, 30):
            queue.enqueue(articles[start:start + 30])
        embed_all(queue, settings)
        running.start_partition(1, plan)
        assert drained(queue)
    _, live = each_article_stored_once(settings.store_location, articles)
    assert live
    # what readers see of the stories matches their articles
    assert sum(count for _, count in live) == 900


def test_a_new_version_or_a_deletion_goes_to_the_partition_that_owns_the_story(
    tmp_path: Path, postgres: PostgresDatabases,
) -> None:
    settings = partitioned_settings(tmp_path, postgres)
    with queue_of(settings) as queue, partitioned(settings) as running:
        cluster_in_partitions(running, queue, settings, town_storms(240))
        with running.services[0].store.read() as reader:
            before = reader.article_by_id("s7")
        assert before is not None and before.story_id is not None
        changed = Article("s7", "Quake shakes the capital", "A strong earthquake hit at dawn.",
                          "Outlet2", None, None, "en")
        queue.enqueue([changed])
        queue.enqueue_deletion("s8")
        queue.enqueue_deletion("never-stored")
        embed_all(queue, settings)
        assert drained(queue)
        totals = [c.totals for c in running.consumers.values()]
        _each_article_in_its_owners_index(running)
    store = PostgresStore(settings.store_location, read_only=True)
    try:
        with store.read() as reader:
            after = reader.article_by_id("s7")
            assert after is not None and after.title == changed.title
            assert reader.article_by_id("s8") is None
            assert reader.article_count() == 239
            assert sum(count for _, count, *_ in reader.live_story_states()) == 239
    finally:
        store.close()
    assert sum(t.deleted for t in totals) == 1
    assert sum(t.clustered for t in totals) == 241  # each article once, the new version too


def cluster_in_partitions(running: Partitioned, queue: IngestQueue, settings: Settings,
                          articles: list[Article]) -> None:
    """Queue ``articles`` in batches of 40, embed them, start the coordinator
    (its plan trained on them) and two partitions, and wait for the queue to drain."""
    for start in range(0, len(articles), 40):
        queue.enqueue(articles[start:start + 40])
    embed_all(queue, settings)
    plan = running.start_coordinator(plan_sample=len(articles))
    running.start_partition(0, plan)
    running.start_partition(1, plan)
    assert drained(queue)


def _each_article_in_its_owners_index(running: Partitioned) -> None:
    """Every stored article is in exactly one partition's index: that of the
    partition that owns its story (folds move articles between them), once
    each partition has applied the last barrier."""
    deadline = time.monotonic() + 60
    while any(c._applied != c._last for c in running.consumers.values()):
        assert time.monotonic() < deadline, "a partition never applied the last barrier"
        time.sleep(0.02)
    service = running.services[0]
    with service.store.read() as reader:
        placed = reader.placement(int(k) for keys, _ in reader.iter_vectors() for k in keys)
        owners = reader.story_partitions()
    keys = np.array(sorted(placed), dtype=np.int64)
    held = {index: s._runtime.index.lookup(keys)[1]  # type: ignore[union-attr]
            for index, s in running.services.items()}
    assert (held[0] ^ held[1]).all()  # one index each
    for key, in_first in zip(keys.tolist(), held[0].tolist(), strict=True):
        assert owners.get(placed[key][0], 0) == (0 if in_first else 1)


def test_a_reader_elsewhere_maps_every_partitions_published_index(
    tmp_path: Path, postgres: PostgresDatabases, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cluster.service.following as following
    from cluster.index.replica import ReplicaIndex

    monkeypatch.setattr(following, "SHELF_POLL_S", 0.0)
    settings = partitioned_settings(tmp_path / "writers", postgres)
    reader_settings = make_settings(tmp_path / "reader", store_url=settings.store_location,
                                    writes="queue", readers=1)
    articles = town_storms(400)
    with queue_of(settings) as queue, partitioned(settings) as running:
        cluster_in_partitions(running, queue, settings, articles[:240])
        for service in running.services.values():
            service.snapshot()  # each publishes its own index
        reader = StoryService.reader(reader_settings).open()
        try:
            assert reader._runtime is not None and reader.follower is not None
            replica = reader._runtime.index
            # (a partition that had not yet applied the last barrier's folds when it
            # snapshotted labelled its snapshot before them: they are in the tail)
            assert isinstance(replica, ReplicaIndex) and replica.sealed_parts == 2
            _same_as_the_store(reader)
            queue.enqueue(articles[240:320])  # more, then only one partition publishes
            embed_all(queue, settings)
            assert drained(queue)
            running.services[0].snapshot()  # a segment after its snapshot
            reader.follower.catch_up()
            assert reader._runtime.index.sealed_parts == 3  # type: ignore[attr-defined]
            _same_as_the_store(reader)
            queue.enqueue(articles[320:])
            embed_all(queue, settings)
            assert drained(queue)
            reader.follower.catch_up()  # the log alone, into the tail
            _same_as_the_store(reader)
        finally:
            reader.close()


def _same_as_the_store(reader: StoryService) -> None:
    """The reader's replica holds every stored article once, with its vector."""
    from cluster.index.building import index_from_store

    assert reader._runtime is not None
    with reader.store.read() as store_reader:
        everything = index_from_store(store_reader, "auto", 256)
    queries = np.eye(256, dtype=np.float32)[:40]
    got, want = reader._runtime.index.search(queries, 500), everything.search(queries, 500)
    for row in range(len(queries)):
        ours = {int(k): round(float(s), 4) for k, s in zip(got[1][row], got[0][row],
                                                          strict=True) if k >= 0}
        theirs = {int(k): round(float(s), 4) for k, s in zip(want[1][row], want[0][row],
                                                            strict=True) if k >= 0}
        assert ours == theirs
    assert len(reader._runtime.index) == len(everything)


def test_a_restarted_coordinator_clears_what_its_predecessor_reconciled(
    tmp_path: Path, postgres: PostgresDatabases,
) -> None:
    """A coordinator stopped between writing a barrier and removing its batch
    from the queue leaves the batch behind; the next one removes it."""
    import psycopg

    settings = partitioned_settings(tmp_path, postgres)
    articles = [Article(f"s{i}", f"Storm {i % 6} floods town {i % 6}", f"Report {i}.",
                        f"Outlet{i % 3}", None, None, "en") for i in range(60)]
    with queue_of(settings) as queue:
        with partitioned(settings) as running:
            queue.enqueue(articles)
            embed_all(queue, settings)
            plan = running.start_coordinator(plan_sample=60)
            running.start_partition(0, plan)
            running.start_partition(1, plan)
            assert drained(queue)
        with psycopg.connect(settings.store_location) as connection:
            last = connection.execute("SELECT MAX(batch) FROM partition_barriers").fetchone()
            assert last is not None
            connection.execute(  # the batch as the stopped coordinator left it
                "INSERT INTO ingest_queue (batch, article, enqueued_at, vector, embed_hash) "
                "VALUES (%s, '{\"id\": \"s0\"}', 0, '', '')", (last[0],))
        assert queue.oldest_batch_after(None) == last[0]
        coordinator = Coordinator(settings, 2, IngestQueue(settings.store_location),
                                  PartitionLedger(settings.store_location))
        try:
            assert coordinator.reconcile_some() == 0  # nothing new to reconcile
        finally:
            coordinator.queue.close()
            coordinator.ledger.close()
            coordinator.close()
        assert queue.oldest_batch_after(None) is None


def test_partitions_follow_what_a_single_writer_changed_between_their_runs(
    tmp_path: Path, postgres: PostgresDatabases,
) -> None:
    """A re-cluster by a single writer (the partitions stopped) moves articles
    between stories without the index log, and what a single writer ingests
    meanwhile has no owner: when the partitions start again, each index still
    holds exactly the articles of the stories its partition owns, and each
    live story is held by its owner's clusterer."""
    settings = partitioned_settings(tmp_path, postgres, snapshot_every=20)
    towns = town_storms(300)
    with queue_of(settings) as queue:
        with partitioned(settings) as running:
            cluster_in_partitions(running, queue, settings, towns[:240])
        stricter = settings.cluster.model_copy(update={"join_threshold": 0.9,
                                                       "dense_join_threshold": 0.95})
        with StoryService(settings.model_copy(update={"cluster": stricter})) as single:
            with single.store.read() as reader:
                before = reader.assignments()
            single.rebuild(recluster=True)
            single.ingest(towns[240:260])
            with single.store.read() as reader:
                after = reader.assignments()
        assert any(after[k] != story for k, story in before.items())  # articles moved
        ledger = PartitionLedger(settings.store_location)
        try:
            assert ledger.settled_plan() is None  # the single writer's new stories
            with partitioned(settings) as running:
                plan = running.start_coordinator()
                settled = ledger.settled_plan()
                assert settled is not None and settled.version == plan.version
                _partitions_follow(running, plan, queue, settings, towns[260:300])
        finally:
            ledger.close()


def _partitions_follow(running: Partitioned, plan: RoutingPlan, queue: IngestQueue,
                       settings: Settings, more: list[Article]) -> None:
    running.start_partition(0, plan)
    running.start_partition(1, plan)
    queue.enqueue(more)
    embed_all(queue, settings)
    assert drained(queue)
    _each_article_in_its_owners_index(running)
    with running.services[0].store.read() as reader:
        owners = reader.story_partitions()
        live = list(reader.live_story_states())
        stored = reader.article_count()
    for story, *_ in live:
        assert running.services[owners[story]].clusterer.holds(story), story
    assert sum(count for _, count, *_ in live) == stored
