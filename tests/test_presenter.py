"""Story presentation in the background thread: changes settle, get presented
once, survive a stop, and a failing round is retried."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from cluster.articles import Article
from cluster.presenter import BackgroundPresenter
from cluster.reading import StoryQuery
from cluster.service import StoryService
from tests.conftest import make_settings

MakeArticle = Callable[..., Article]

QUAKES = [
    "Earthquake of magnitude 7 strikes southern Peru near Arequipa",
    "Peru earthquake near Arequipa: rescuers dig through rubble",
    "Arequipa earthquake toll rises as Peru counts damage",
]


def test_background_presentation_labels_stories_after_the_write(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    settings = make_settings(tmp_path, presentation_delay_s=0.05,
                             cluster={"join_threshold": 0.15, "headline_threshold": 0.15})
    service = StoryService(settings)
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
    service = StoryService(slow)
    results = service.ingest([make_article(QUAKES[0])])
    with service.store.read() as reader:
        assert reader.dirty_story_count() == 1
    # not presented yet: the first article stands in for the headline
    assert service.get_story(results[0].story_id).story.headline == QUAKES[0]
    service.close()  # as a shutdown before the story settled
    again = StoryService(make_settings(tmp_path))  # inline: presents what was left at start
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


def test_a_hurried_wait_presents_without_waiting_for_changes_to_settle(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    slow = make_settings(tmp_path, presentation_delay_s=3600.0)  # would settle in an hour
    service = StoryService(slow)
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
