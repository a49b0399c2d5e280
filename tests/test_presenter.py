"""Story presentation in the background: changes settle, get presented once,
survive a stop, and a failing round is retried; in a worker process, claimed
stories survive a crash and a worker that dies is replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cluster.articles.incoming import Article
from cluster.service.facade import StoryService
from cluster.service.view_builders import StoryQuery
from cluster.stories.presentation import compute_presentation
from cluster.stories.refresher import BackgroundPresenter
from cluster.stories.worker import PresentationWorker, PresentationWorkerError
from cluster.types import StoryId
from tests.conftest import make_settings

MakeArticle = Callable[..., Article]

QUAKES = [
    "Earthquake of magnitude 7 strikes southern Peru near Arequipa",
    "Peru earthquake near Arequipa: rescuers dig through rubble",
    "Arequipa earthquake toll rises as Peru counts damage",
]


@pytest.mark.parametrize("worker", ["process", "thread"])
def test_background_presentation_labels_stories_after_the_write(
    tmp_path: Path, make_article: MakeArticle, worker: str
) -> None:
    settings = make_settings(tmp_path, presentation_delay_s=0.05, presentation_worker=worker,
                             cluster={"join_threshold": 0.15, "headline_threshold": 0.15})
    service = StoryService(settings).open()
    try:
        results = service.ingest([make_article(t, hours=i) for i, t in enumerate(QUAKES)])
        assert service.wait_for_presentation(timeout=30)
        story = service.get_story(results[0].story_id).story
        assert story.headline in QUAKES
        assert "arequipa" in story.label.lower() or "earthquake" in story.label.lower()
        assert story.summary
        with service.store.read() as reader:
            assert reader.dirty_story_count() == 0
    finally:
        service.close()


def test_stopping_leaves_the_rest_for_the_next_start(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    slow = make_settings(tmp_path, presentation_delay_s=3600.0)  # never settles in the test
    service = StoryService(slow).open()
    results = service.ingest([make_article(QUAKES[0])])
    with service.store.read() as reader:
        assert reader.dirty_story_count() == 1
    # not presented yet: the first article stands in for the headline
    assert service.get_story(results[0].story_id).story.headline == QUAKES[0]
    service.close()  # as a shutdown before the story settled
    again = StoryService(make_settings(tmp_path)).open()  # inline: presents what was left at start
    try:
        with again.store.read() as reader:
            assert reader.dirty_story_count() == 0
        story = again.get_story(results[0].story_id).story
        assert story.headline == QUAKES[0] and story.label
        assert again.list_stories(StoryQuery(status="all")).items[0].label == story.label
    finally:
        again.close()


def test_changes_coalesce_and_a_failed_round_is_retried() -> None:
    calls: list[int] = []
    fail_once = threading.Event()
    fail_once.set()
    done = threading.Event()

    def present_some(limit: int) -> bool:
        calls.append(limit)
        if fail_once.is_set():
            fail_once.clear()
            raise RuntimeError("store busy")
        done.set()
        return False

    presenter = BackgroundPresenter(present_some, delay_s=0.05, max_wait_s=0.5)
    try:
        for _ in range(20):  # a burst of changes: one round after it settles
            presenter.notify()
        assert presenter.wait_idle(timeout=30)
        assert done.is_set()
        assert len(calls) == 2  # the failed round, then the retry
    finally:
        presenter.stop()


def test_a_round_presents_what_waited_when_it_began_not_what_changes_meanwhile() -> None:
    calls: list[int] = []
    rounds = threading.Event()

    def present_some(limit: int) -> bool:  # a steady stream: always more waiting
        calls.append(limit)
        rounds.set()
        return True

    presenter = BackgroundPresenter(present_some, delay_s=0.01, max_wait_s=0.05, chunk=2,
                                    waiting=lambda: 5)
    try:
        presenter.notify()
        assert presenter.wait_idle(timeout=30)
        assert calls == [2, 2, 2]  # 5 waiting, in chunks of 2; then it settles again
    finally:
        presenter.stop()


def test_a_hurried_wait_presents_without_waiting_for_changes_to_settle(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    slow = make_settings(tmp_path, presentation_delay_s=3600.0)  # would settle in an hour
    service = StoryService(slow).open()
    try:
        service.ingest([make_article(QUAKES[0])])
        assert not service.wait_for_presentation(timeout=0.2)  # still settling
        assert service.wait_for_presentation(timeout=30, hurry=True)
        with service.store.read() as reader:
            assert reader.dirty_story_count() == 0
        service.ingest([make_article(QUAKES[1], hours=1)])  # later changes settle again
        assert not service.wait_for_presentation(timeout=0.2)
    finally:
        service.close()


def test_stories_claimed_by_a_worker_that_never_finished_are_presented_at_the_next_start(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    slow = make_settings(tmp_path, presentation_delay_s=3600.0)
    service = StoryService(slow).open()
    results = service.ingest([make_article(QUAKES[0])])
    with service.store.write() as writer:  # as a worker's chunk when the service died
        assert writer.claim_for_presentation(10) == [results[0].story_id]
    with service.store.read() as reader:
        assert reader.story(results[0].story_id).dirty is False  # type: ignore[union-attr]
        assert reader.dirty_story_count() == 1  # still waiting: being presented
    service.close()
    again = StoryService(make_settings(tmp_path)).open()
    try:
        with again.store.read() as reader:
            assert reader.dirty_story_count() == 0
        assert again.get_story(results[0].story_id).story.label
    finally:
        again.close()


def test_a_presentation_from_an_older_snapshot_keeps_the_story_dirty_and_a_relabel_request(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    service = StoryService(make_settings(tmp_path, presentation_delay_s=3600.0)).open()
    try:
        results = service.ingest([make_article(QUAKES[0]), make_article(QUAKES[1], hours=1)])
        story_id = results[0].story_id
        assert results[1].story_id == story_id
        with service.store.write() as writer:
            assert writer.claim_for_presentation(10) == [story_id]
        with service.store.read() as reader:  # what the worker computes from
            presentation = compute_presentation(reader, story_id, None, service.terms, 12.0)
        assert presentation.presented_count == 2 and presentation.seen_presented_count == 0
        with service.store.write() as writer:  # meanwhile the story changes and asks for
            row = writer.story(story_id)      # a relabel, as after a merge
            assert row is not None
            writer.save_story(story_id, status="active", first_seen=row.first_seen,
                              last_updated=row.last_updated, activity=row.activity,
                              article_count=row.article_count, centroid_sum=row.centroid_sum)
            writer.forget_presented_count(story_id)
        with service.store.write() as writer:
            writer.set_story_presentation(story_id, presentation, claimed=True)
            writer.release_claims([story_id], presented=True)
        with service.store.read() as reader:
            row = reader.story(story_id)
            assert row is not None and row.label == presentation.label
            assert row.dirty and row.presented_count == -1  # still asks for a relabel
        with service.store.write() as writer:  # unchanged since: clean, and counted
            assert writer.claim_for_presentation(10) == [story_id]
            fresh = compute_presentation(writer, story_id, None, service.terms, 12.0)
            writer.set_story_presentation(story_id, fresh, claimed=True)
            writer.release_claims([story_id], presented=True)
        with service.store.read() as reader:
            row = reader.story(story_id)
            assert row is not None and not row.dirty and row.presented_count == 2
            assert reader.dirty_story_count() == 0
    finally:
        service.close()


def test_a_worker_that_dies_is_replaced_and_its_stories_presented(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    settings = make_settings(tmp_path, presentation_delay_s=0.05, presentation_worker="process",
                             cluster={"join_threshold": 0.15, "headline_threshold": 0.15})
    service = StoryService(settings).open()
    try:
        first = service.ingest([make_article(QUAKES[0])])
        assert service.wait_for_presentation(timeout=60)
        assert service.presentation_worker is not None
        worker = service.presentation_worker
        assert worker.pid is not None
        dead = worker.pid
        os.kill(dead, signal.SIGKILL)
        later = service.ingest([make_article(t, hours=i + 1) for i, t in enumerate(QUAKES[1:])])
        assert later[0].story_id == first[0].story_id
        assert service.wait_for_presentation(timeout=60)
        assert worker.pid not in (None, dead)  # a new worker
        story = service.get_story(first[0].story_id).story
        assert story.article_count == 3 and len(story.summary) == 3
        with service.store.read() as reader:
            assert reader.dirty_story_count() == 0
    finally:
        service.close()


def test_a_chunk_the_worker_failed_is_dirty_again_and_retried(
    tmp_path: Path, make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, presentation_delay_s=0.05, presentation_worker="process")
    service = StoryService(settings).open()
    real = PresentationWorker.present
    failures: list[list[int]] = []

    def fail_once(self: PresentationWorker, story_ids: list[StoryId], *args: object) -> object:
        if not failures:
            with service.store.read() as reader:  # claimed: clean, but still waiting
                failures.append([int(reader.story(s).dirty) for s in story_ids])  # type: ignore[union-attr]
                assert reader.dirty_story_count() == len(story_ids)
            raise PresentationWorkerError("worker died mid-chunk")
        return real(self, story_ids, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(PresentationWorker, "present", fail_once)
    try:
        result = service.ingest([make_article(QUAKES[0])])
        assert service.wait_for_presentation(timeout=60)
        assert failures == [[0]]
        assert service.get_story(result[0].story_id).story.label
        with service.store.read() as reader:
            assert reader.dirty_story_count() == 0
    finally:
        service.close()


ORPHAN = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from cluster.articles.incoming import Article
from cluster.service.facade import StoryService
from tests.conftest import make_settings
service = StoryService(make_settings(Path(sys.argv[1]), presentation_delay_s=0.05,
                                     presentation_worker="process")).open()
service.ingest([Article("a", "Earthquake strikes southern Peru", "", "Wire", None,
                        datetime(2026, 11, 1, tzinfo=UTC), "en")])
assert service.wait_for_presentation(timeout=60)
print(service.presentation_worker.pid, flush=True)
time.sleep(600)
"""


def test_the_worker_exits_when_the_service_is_killed(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    with subprocess.Popen([sys.executable, "-c", ORPHAN, str(tmp_path)], cwd=root,
                          stdout=subprocess.PIPE, text=True) as service:
        assert service.stdout is not None
        worker = int(service.stdout.readline())
        service.kill()  # SIGKILL, no close(): the worker's pipe just ends
        service.wait(30)
    deadline = time.monotonic() + 60
    while _alive(worker):
        assert time.monotonic() < deadline, "the worker outlived its service"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")  # a zombie is gone
