"""The scale-out ingest queue on a real PostgreSQL server: workers never
take the same row, a dead worker's claim expires, the writer sees the stream
in the order it was accepted, and every article is clustered exactly once,
with the same stories as the single-machine service."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cluster.articles.incoming import Article
from cluster.articles.jsonl import read_labelled
from cluster.embedding.models import HashingEmbedder
from cluster.scaleout.consumer import QueueConsumer
from cluster.scaleout.embedding_worker import EmbeddingWorker
from cluster.scaleout.queue import Depth, IngestQueue
from cluster.service.facade import StoryService
from cluster.settings import Settings
from cluster.store.postgres import PostgresStore
from tests.conftest import DEMO, PostgresDatabases, make_settings
from tests.test_store_contract import article


@pytest.fixture
def queue_url(tmp_path: Path, postgres: PostgresDatabases) -> str:
    url = postgres.url_for(tmp_path)
    PostgresStore(url).close()  # the writer's migrations create the queue
    return url


@dataclass
class Writing:
    """A writer service on the PostgreSQL store, its queue, a worker and a consumer."""

    settings: Settings
    service: StoryService
    queue: IngestQueue
    worker: EmbeddingWorker
    consumer: QueueConsumer


@pytest.fixture
def writing(tmp_path: Path, queue_url: str) -> Iterator[Writing]:
    settings = make_settings(tmp_path, store_url=queue_url)
    service = StoryService(settings).open()
    queue = IngestQueue(queue_url)
    try:
        yield Writing(settings, service, queue,
                      EmbeddingWorker(queue, HashingEmbedder(), settings.lead_chars, "w"),
                      QueueConsumer(service, queue))
    finally:
        queue.close()
        service.close()


def test_claims_never_overlap_and_an_expired_claim_is_taken_again(queue_url: str) -> None:
    queue = IngestQueue(queue_url)
    try:
        seqs = queue.enqueue([article(f"a{i}") for i in range(10)])
        assert seqs == sorted(seqs) and len(set(seqs)) == 10
        first = queue.claim("one", 4, lease_s=0.5)
        second = queue.claim("two", 4)
        assert [s for s, _ in first] == seqs[:4] and [s for s, _ in second] == seqs[4:8]
        assert first[0][1] == article("a0")  # the article survives the round trip
        assert [s for s, _ in queue.claim("three", 10)] == seqs[8:]
        time.sleep(0.6)
        # "one" died: its claim expired and "four" takes those rows again, not "two"'s
        again = queue.claim("four", 10)
        assert [s for s, _ in again] == seqs[:4]
        assert queue.depth().waiting == 10 and queue.next_batch() == []
    finally:
        queue.close()


def test_the_writer_takes_the_oldest_batch_once_all_of_it_is_embedded(queue_url: str) -> None:
    queue = IngestQueue(queue_url)
    try:
        first = queue.enqueue([article(f"a{i}") for i in range(3)])
        second = queue.enqueue([article("b")])
        vector = np.ones(8, dtype=np.float32)
        queue.claim("w", 4)
        assert queue.complete("w", [(first[1], vector, "h"), (second[0], vector, "h")]) == 2
        assert queue.next_batch() == []  # the first batch is still being embedded
        assert queue.complete("w", [(first[0], vector, "h"), (first[2], vector, "h")]) == 2
        assert queue.complete("late", [(first[0], 2 * vector, "h")]) == 0  # first one wins
        batch = queue.next_batch()
        assert [e.seq for e in batch] == first  # one accepted batch, never joined to the next
        np.testing.assert_array_equal(batch[0].vector, vector)
        queue.acknowledge([e.seq for e in batch])
        assert [e.seq for e in queue.next_batch()] == second
        assert queue.depth() == Depth(0, 1)
    finally:
        queue.close()


def _drain(worker: EmbeddingWorker, consumer: QueueConsumer) -> None:
    while worker.embed_some() or consumer.consume_some():
        pass


def test_queued_articles_form_the_same_stories_as_a_direct_ingest(
    tmp_path: Path, queue_url: str,
) -> None:
    articles = [item.article for item in read_labelled(DEMO)]
    direct = StoryService(make_settings(tmp_path / "direct")).open()
    try:
        direct.ingest(articles)
        with direct.store.read() as reader:
            expected = reader.assignments()
    finally:
        direct.close()
    settings = make_settings(tmp_path / "queued", store_url=queue_url)
    service = StoryService(settings).open()
    queue = IngestQueue(queue_url)
    try:
        for start in range(0, len(articles), 64):  # the direct ingest's batches
            queue.enqueue(articles[start:start + 64])
        worker = EmbeddingWorker(queue, HashingEmbedder(), settings.lead_chars, "w", batch=64)
        consumer = QueueConsumer(service, queue)
        _drain(worker, consumer)
        assert consumer.totals.clustered == 46 and consumer.totals.embedded_here == 0
        with service.store.read() as reader:
            assert reader.assignments() == expected
        # a writer that died before acknowledging re-reads the run: nothing changes
        queue.enqueue(articles[:5])
        _drain(worker, consumer)
        with service.store.read() as reader:
            assert reader.assignments() == expected and reader.article_count() == 46
        assert queue.depth().waiting == queue.depth().embedded == 0
    finally:
        queue.close()
        service.close()


def test_a_batch_with_a_repeated_id_keeps_the_later_version(writing: Writing) -> None:
    # the API and the importer never queue one; the writer still takes it whole
    writing.queue.enqueue([article("x"), article("y"), article("x", hours=3)])
    writing.worker.embed_some()
    assert writing.consumer.consume_some() == 3 and writing.consumer.totals.refused == 0
    with writing.service.store.read() as reader:
        stored = reader.article_by_id("x")
        assert reader.article_count() == 2
    assert stored is not None and stored.published_at == article("x", hours=3).timestamp


def test_workers_in_threads_embed_every_row_once(queue_url: str) -> None:
    queue = IngestQueue(queue_url)
    queue.enqueue([article(f"a{i}") for i in range(300)])
    stop = threading.Event()
    workers = [EmbeddingWorker(IngestQueue(queue_url), HashingEmbedder(), 400, f"w{i}",
                               batch=16) for i in range(3)]
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
    for thread in threads:
        thread.start()
    try:
        for _ in range(200):
            if queue.depth().waiting == 0:
                break
            stop.wait(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        for worker in workers:
            worker.queue.close()
    assert queue.depth().embedded == 300
    assert sum(w.embedded for w in workers) == 300
    assert all(w.embedded > 0 for w in workers)
    queue.close()


def test_an_article_the_service_refuses_leaves_the_queue_without_holding_back_the_rest(
    writing: Writing, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cluster.errors import InvalidInput

    real = writing.service.ingest_prepared

    def refusing(batch: Any) -> Any:
        if any(item.article.id == "bad" for item in batch.items):
            raise InvalidInput("text", "refused for the test")
        return real(batch)

    monkeypatch.setattr(writing.service, "ingest_prepared", refusing)
    writing.queue.enqueue([article("a"), article("bad"), article("c")])
    writing.worker.embed_some()
    assert writing.consumer.consume_some() == 3
    assert writing.consumer.totals.clustered == 2 and writing.consumer.totals.refused == 1
    with writing.service.store.read() as reader:
        assert sorted(reader.assignments()) == ["a", "c"]
    assert writing.queue.depth() == Depth(0, 0)


def test_a_reader_in_queue_mode_queues_writes_and_then_serves_them(
    tmp_path: Path, queue_url: str,
) -> None:
    from api import create_app

    settings = make_settings(tmp_path, store_url=queue_url, writes="queue", readers=1)
    writer = StoryService(settings).open()  # stands in for the writer actor
    reader = StoryService.reader(settings).open()
    queue = IngestQueue(queue_url)
    client = create_app(service=reader, role="reader", write_queue=queue).test_client()
    try:
        body = {"articles": [
            {"id": "q1", "title": "Flood hits the river town", "text": "Water rose.",
             "source": "Wire", "published_at": "2026-11-01T10:00:00Z"},
            {"id": "q2", "title": "River town flooded", "text": "The water rose again.",
             "source": "Post", "published_at": "2026-11-01T11:00:00Z"}]}
        answer = client.post("/api/v1/articles", json=body)
        assert answer.status_code == 202, answer.get_json()
        assert answer.get_json()["ids"] == ["q1", "q2"] and len(answer.get_json()["positions"]) == 2
        refused = client.post("/api/v1/articles", json={"title": "", "text": ""})
        assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
        assert queue.depth().waiting == 2  # nothing refused was queued
        deleting = client.delete("/api/v1/articles/q1")
        assert deleting.status_code == 202 and deleting.get_json()["ids"] == ["q1"]
        bad = client.delete("/api/v1/articles/not%20an%20id")
        assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "id"
        assert client.get("/api/v1/articles/q1").status_code == 404  # not clustered yet
        scraped = client.get("/metrics").get_data(as_text=True)
        assert 'newsclusters_queue_articles{state="waiting"} 2.0' in scraped
        assert 'newsclusters_queue_articles{state="embedded"} 1.0' in scraped  # the deletion
        EmbeddingWorker(queue, HashingEmbedder(), settings.lead_chars, "w").embed_some()
        consumer = QueueConsumer(writer, queue)
        assert consumer.consume_some() == 2  # the articles, then the deletion after them
        assert consumer.consume_some() == 1 and consumer.totals.deleted == 1
        for _ in range(100):  # the reader follows the store's log at its own pace
            shown = client.get("/api/v1/articles/q2")
            if shown.status_code == 200 and client.get("/api/v1/articles/q1").status_code == 404:
                break
            time.sleep(0.1)
        assert shown.status_code == 200 and shown.get_json()["story_id"] is not None
        assert client.get("/api/v1/articles/q1").status_code == 404
    finally:
        queue.close()
        reader.close()
        writer.close()


def test_queue_writes_need_the_postgresql_store(tmp_path: Path) -> None:
    from cluster.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="writes = queue needs store_url"):
        make_settings(tmp_path, writes="queue", readers=1)


def test_a_queued_write_to_an_unreachable_store_is_a_503_and_queues_nothing(
    tmp_path: Path, queue_url: str,
) -> None:
    from api import create_app
    from tests.conftest import free_port

    settings = make_settings(tmp_path, store_url=queue_url, writes="queue", readers=1)
    StoryService(settings).open().close()
    reader = StoryService.reader(settings).open()
    gone = IngestQueue(f"postgresql://newsclusters@127.0.0.1:{free_port()}/nothing")
    try:
        client = create_app(service=reader, role="reader", write_queue=gone).test_client()
        answer = client.post("/api/v1/articles", json={"title": "Flood", "text": "Water."})
        assert answer.status_code == 503 and answer.mimetype == "application/problem+json"
        assert "nothing was queued" in answer.get_json()["detail"]
    finally:
        reader.close()


def test_serve_in_queue_mode_runs_readers_only_that_queue_writes(
    tmp_path: Path, queue_url: str,
) -> None:
    import json
    import urllib.error
    import urllib.request

    from tests.conftest import role_pids, scratch_server

    def call(port: int, method: str, path: str, body: object = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    settings = make_settings(tmp_path, store_url=queue_url)
    with scratch_server(tmp_path, readers="2", writes="queue", store_url=queue_url) as (
            process, port):
        assert role_pids(process.pid) == {"writer": [], "reader": role_pids(process.pid)["reader"]}
        assert len(role_pids(process.pid)["reader"]) == 2
        status, body = call(port, "POST", "/api/v1/articles", [
            {"id": "s1", "title": "Harbour storm floods quay", "source": "A"},
            {"id": "s2", "title": "Storm floods the harbour quay", "source": "B"}])
        assert status == 202 and body["ids"] == ["s1", "s2"]
        writer = StoryService(settings).open()  # stands in for the writer actor
        queue = IngestQueue(queue_url)
        try:
            EmbeddingWorker(queue, HashingEmbedder(), settings.lead_chars, "w").embed_some()
            assert QueueConsumer(writer, queue).consume_some() == 2
        finally:
            queue.close()
            writer.close()
        for _ in range(100):  # both readers follow the store
            answers = [call(port, "GET", "/api/v1/articles/s2")[0] for _ in range(4)]
            if answers == [200] * 4:
                break
            time.sleep(0.1)
        assert answers == [200] * 4


def _same_neighbours(reader: StoryService, writer: StoryService, queries: np.ndarray) -> None:
    """The reader's replica holds what the writer's own index holds: every
    stored article (k above their count, as ties may come in any order),
    with the same score."""
    assert reader._runtime is not None and writer._runtime is not None
    for (their_scores, their_keys), (our_scores, our_keys) in zip(
            zip(*reader._runtime.index.search(queries, 64), strict=True),
            zip(*writer._runtime.index.search(queries, 64), strict=True), strict=True):
        theirs = {int(k): round(float(v), 5) for k, v in zip(their_keys, their_scores,
                                                             strict=True) if k >= 0}
        ours = {int(k): round(float(v), 5) for k, v in zip(our_keys, our_scores,
                                                           strict=True) if k >= 0}
        assert theirs == ours and len(ours) == writer.article_count()


def test_a_reader_on_another_machine_maps_the_snapshot_and_segments_the_writer_published(
    tmp_path: Path, queue_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg

    import cluster.service.following as following
    from cluster.index.replica import ReplicaIndex
    from cluster.index.segments import current_reach
    from cluster.index.snapshot import read_manifest
    from cluster.scaleout.snapshot_shelf import KEEP

    monkeypatch.setattr(following, "SHELF_POLL_S", 0.0)
    # segments up to 60 % of the snapshot: two rounds of about five after twenty
    writer_settings = make_settings(tmp_path / "writer", store_url=queue_url,
                                    snapshot_segment_share=0.6)
    # another machine: its own index folder, which the writer never writes
    reader_settings = make_settings(tmp_path / "reader", store_url=queue_url, writes="queue",
                                    readers=1)
    writer = StoryService(writer_settings).open()
    queries = HashingEmbedder().embed([f"title a{i} body" for i in range(6)])
    try:
        writer.ingest([article(f"a{i}", hours=i) for i in range(20)])
        writer.snapshot()
        published = read_manifest(writer_settings.index_dir)
        assert published is not None
        reader = StoryService.reader(reader_settings).open()
        assert reader._runtime is not None and reader.follower is not None
        try:
            fetched = read_manifest(reader_settings.index_dir)
            assert fetched is not None and fetched[1] == published[1]
            assert fetched[0].name == published[0].name
            assert reader.get_article("a3").story_id is not None
            # a deletion and a replaced vector travel in the next segments
            writer.delete_article("a0")
            writer.ingest([Article("a1", "a new title for a1", "another body", "Wire", None,
                                   article("a1").published_at, "en")])
            for round_ in range(2):  # each snapshot after the first travels as a segment
                writer.ingest([article(f"b{round_}-{i}", hours=i) for i in range(5)])
                writer.snapshot()
                reader.follower.catch_up()
                assert read_manifest(reader_settings.index_dir)[1] == published[1]  # type: ignore[index]
                assert current_reach(reader_settings.index_dir) == writer._runtime.snapshot_seq  # type: ignore[union-attr]
                replica = reader._runtime.index
                assert isinstance(replica, ReplicaIndex)
                assert replica.sealed_parts == round_ + 2 and replica.tail_size == 0
                _same_neighbours(reader, writer, queries)
            # the segments would now outweigh 60 % of the snapshot: a whole one again
            writer.ingest([article(f"c-{i}", hours=i) for i in range(5)])
            writer.snapshot()
            reader.follower.catch_up()
            newest = read_manifest(writer_settings.index_dir)
            assert newest is not None
            assert read_manifest(reader_settings.index_dir)[1] == newest[1]  # type: ignore[index]
            assert reader._runtime.index.sealed_parts == 1  # type: ignore[attr-defined]
            _same_neighbours(reader, writer, queries)
            assert reader.article_count() == 34
        finally:
            reader.close()
    finally:
        writer.close()
    with psycopg.connect(queue_url) as connection:
        rows = connection.execute(
            "SELECT base_id IS NULL, COUNT(*) FROM index_snapshots GROUP BY 1").fetchall()
    assert dict(rows) == {True: KEEP, False: 2}


def test_a_queued_deletion_follows_what_was_queued_before_it(writing: Writing) -> None:
    queue, consumer = writing.queue, writing.consumer
    queue.enqueue([article("x"), article("y")])
    queue.enqueue_deletion("x")
    queue.enqueue_deletion("never-stored")  # nothing to do, and it leaves the queue
    queue.enqueue([article("x", hours=5)])  # stored again after its deletion
    assert queue.depth() == Depth(3, 2)  # deletions need no vector
    while writing.worker.embed_some() or consumer.consume_some():
        pass
    assert consumer.totals.deleted == 1 and queue.depth() == Depth(0, 0)
    with writing.service.store.read() as reader:
        stored = reader.article_by_id("x")
        assert reader.article_count() == 2
    assert stored is not None and stored.published_at == article("x", hours=5).timestamp


def test_a_store_that_fails_mid_batch_leaves_the_batch_queued(
    writing: Writing, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cluster.errors import StoreUnavailable

    real = writing.service.ingest_prepared
    failing = [True]

    def unavailable(batch: Any) -> Any:
        if failing[0]:
            raise StoreUnavailable("the store at test cannot be reached")
        return real(batch)

    monkeypatch.setattr(writing.service, "ingest_prepared", unavailable)
    writing.queue.enqueue([article("a"), article("b")])
    writing.worker.embed_some()
    consumer = writing.consumer
    with pytest.raises(StoreUnavailable):
        consumer.consume_some()
    assert consumer.totals.refused == 0 and writing.queue.depth() == Depth(0, 2)  # nothing lost
    failing[0] = False
    assert consumer.consume_some() == 2 and consumer.totals.clustered == 2


def test_publishing_runs_beside_the_writer_and_coalesces_requests(tmp_path: Path) -> None:
    from cluster.scaleout.snapshot_shelf import BackgroundPublisher

    class SlowShelf:  # stands in for the store: only the threading is under test
        def __init__(self) -> None:
            self.release = threading.Event()
            self.started = threading.Event()
            self.calls = 0

        def publish(self, index_dir: Path) -> None:
            self.calls += 1
            self.started.set()
            self.release.wait(30)

    shelf = SlowShelf()
    publisher = BackgroundPublisher(shelf, tmp_path)  # type: ignore[arg-type]
    publisher.request()
    assert shelf.started.wait(10)  # the caller did not wait for it
    for _ in range(5):  # asked again while it runs: one more publication, not five
        publisher.request()
    assert not publisher.wait(0.2)
    shelf.release.set()
    assert publisher.wait(30) and shelf.calls == 2
    publisher.close()


def test_a_snapshot_after_a_write_is_published_without_holding_the_write(
    tmp_path: Path, queue_url: str,
) -> None:
    from cluster.index.snapshot import read_manifest
    from cluster.scaleout.snapshot_shelf import SnapshotShelf

    settings = make_settings(tmp_path, store_url=queue_url, snapshot_every=10)
    service = StoryService(settings).open()
    try:
        service.ingest([article(f"a{i}", hours=i) for i in range(12)])  # past snapshot_every
        local = read_manifest(settings.index_dir)
        assert local is not None
        shelf = SnapshotShelf(queue_url)
        for _ in range(100):
            if shelf.newest_seq() == local[1].store_seq:
                break
            time.sleep(0.1)
        assert shelf.newest_seq() == local[1].store_seq
    finally:
        service.close()
