"""A reader process's service: it reads what the writer committed, follows
new commits, snapshots and deletions, answers as the writer would, and
never writes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from cluster.articles.incoming import Article
from cluster.service.facade import ReadOnlyService, StoryService
from cluster.settings import Settings
from tests.conftest import free_port

Pair = tuple[StoryService, StoryService]


@pytest.fixture
def pair(settings: Settings, make_article: Callable[..., Article]) -> Iterator[Pair]:
    """A writer that has stored one article ("p1"), and a reader opened after it."""
    writer = StoryService(settings).open()
    writer.ingest([make_article("Pilots strike at airport", id="p1")])
    reader = StoryService.reader(settings).open()
    try:
        yield writer, reader
    finally:
        reader.close()
        writer.close()


def test_a_reader_answers_as_the_writer_and_follows_its_commits(
    settings: Settings, make_article: Callable[..., Article],
) -> None:
    writer = StoryService(settings).open()
    try:
        first = writer.ingest([make_article("Storm floods harbour town", id="w1"),
                               make_article("Harbour town flooded by storm", id="w2",
                                            source="Other")])
        writer.snapshot()
        reader = StoryService.reader(settings).open()
        try:
            assert reader.readiness().in_sync and reader.readiness().role == "reader"
            same = reader.related("w1")
            assert same.items == writer.related("w1").items
            assert same.story_id == first[0].story_id
            # a write after the reader opened: reads by id see it at once,
            # searches once the reader has caught up with the index log
            writer.ingest([make_article("Storm floods harbour again", id="w3", hours=1)])
            assert reader.get_article("w3").story_id == writer.get_article("w3").story_id
            seq = writer.readiness().store_seq
            assert reader.follower is not None and reader.follower.wait_for(seq, 5.0)
            assert {i.id for i in reader.related("w1").items} == {
                i.id for i in writer.related("w1").items}
            # the same rule as the writer's; the reader's stories come from the
            # store, as a restarted writer's do (term weights of today, float32
            # sums), so the score may differ in the third decimal
            guess = reader.related_to_text("Storm floods harbour", "")
            expected = writer.related_to_text("Storm floods harbour", "")
            assert guess.items == expected.items and guess.would_join and expected.would_join
            assert guess.would_join.story_id == expected.would_join.story_id
            assert guess.would_join.score == pytest.approx(expected.would_join.score, abs=0.02)
            # a deletion and a newer snapshot reach the reader too
            writer.delete_article("w2")
            writer.snapshot()
            assert reader.follower.wait_for(writer.readiness().store_seq, 5.0)
            assert "w2" not in {i.id for i in reader.related("w1").items}
            assert reader.readiness().snapshot_seq == writer.readiness().snapshot_seq
            assert reader.readiness().indexed == writer.readiness().indexed == 2
            with pytest.raises(ReadOnlyService):
                reader.ingest([make_article("Quake strikes", id="r1")])
            with pytest.raises(ReadOnlyService):
                reader.delete_article("w1")
        finally:
            reader.close()
    finally:
        writer.close()


def test_a_reader_follows_in_the_background(
    pair: Pair, make_article: Callable[..., Article],
) -> None:
    writer, reader = pair
    writer.ingest([make_article("Airport pilots walk out", id="p2", hours=1)])
    deadline = time.monotonic() + 10
    while len(reader.index) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(reader.index) == 2
    assert reader.readiness().behind == 0


def test_a_reader_app_passes_writes_on_and_says_when_the_writer_is_away(pair: Pair) -> None:
    from api import create_app

    _, reader = pair
    app = create_app(service=reader, role="reader",
                     writer_url=f"http://127.0.0.1:{free_port()}")  # nobody there
    client = app.test_client()
    assert client.get("/api/v1/articles/p1").status_code == 200
    refused = client.post("/api/v1/articles", json={"title": "Quake strikes coast"})
    assert refused.status_code == 503
    assert refused.get_json()["type"].endswith("writer-unavailable")
    assert client.delete("/api/v1/articles/p1").status_code == 503
    assert reader.get_article("p1").id == "p1"  # nothing changed
    # a read that asks for a sequence the store never reached is not served stale
    ahead = client.get("/api/v1/stories", headers={"X-Min-Store-Seq": "999"})
    assert ahead.status_code == 503 and ahead.get_json()["type"].endswith("not-caught-up")
    current = client.get("/api/v1/stories", headers={"X-Min-Store-Seq": "1"})
    assert current.status_code == 200 and current.headers["X-Store-Seq"] == "1"


def test_a_reader_shows_the_storylines_the_writer_builds(
    pair: Pair, make_article: Callable[..., Article],
) -> None:
    writer, reader = pair
    strike = "Lufthansa pilots union strike over pensions flights cancelled Frankfurt Munich"
    writer.ingest([make_article("Lufthansa pilots strike over pensions", strike, id="s1",
                                hours=24)])
    writer.ingest([make_article("Lufthansa pilots union calls second strike", strike
                                + " second walkout", id="s2", hours=24 * 7)])
    assert reader.follower.wait_for(writer.readiness().store_seq, 5.0)
    lines = writer.list_storylines()
    assert len(lines.items) == 1
    # hotness is taken at each one's clock; what the storylines hold is the store's
    assert [(i.id, i.label, i.story_count) for i in reader.list_storylines().items] == [
        (i.id, i.label, i.story_count) for i in lines.items]
    line = lines.items[0].id
    seen, written = reader.get_storyline(line), writer.get_storyline(line)
    assert (seen.stories, seen.timeline) == (written.stories, written.timeline)
    assert reader.get_article("s2").storyline_id == line
    assert reader.related("s2").background == writer.related("s2").background != []
