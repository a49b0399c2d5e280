"""The store contract: what every ``Store`` backend must do, run against each
backend in ``BACKENDS`` (SQLite in a file, PostgreSQL on a private server the
tests start; a new backend joins the list and must pass unchanged)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from cluster.articles.incoming import Article
from cluster.store import Presentation, SQLiteStore, Store, Writer
from cluster.store.reader import IN_CHUNK
from cluster.store.sqlite import ReadOnlyStore
from cluster.types import ArticleKey, StoryId, StorylineId

OpenStore = Callable[[Path], Store]
Opener = Callable[[pytest.FixtureRequest, bool], OpenStore]


def _sqlite(request: pytest.FixtureRequest, read_only: bool) -> OpenStore:
    return lambda folder: SQLiteStore(folder / "store.sqlite3", read_only=read_only)


def _postgres(request: pytest.FixtureRequest, read_only: bool) -> OpenStore:
    from cluster.store.postgres import PostgresStore

    databases = request.getfixturevalue("postgres")
    return lambda folder: PostgresStore(databases.url_for(folder), read_only=read_only)


BACKENDS: dict[str, Opener] = {"sqlite": _sqlite, "postgresql": _postgres}
"""How each backend's store is opened, for writing or (``read_only``, as a
reader process opens it) for reading only, without the writer's lock."""


def _closing_each(opener: OpenStore, opened: list[Store]) -> OpenStore:
    def open_and_keep(folder: Path) -> Store:
        opened.append(opener(folder))
        return opened[-1]
    return open_and_keep


@pytest.fixture(params=sorted(BACKENDS))
def open_store(request: pytest.FixtureRequest) -> Iterator[OpenStore]:
    opened: list[Store] = []
    yield _closing_each(BACKENDS[request.param](request, False), opened)
    for store in opened:
        store.close()


@pytest.fixture
def open_reader(request: pytest.FixtureRequest, open_store: OpenStore) -> Iterator[OpenStore]:
    opened: list[Store] = []
    yield _closing_each(BACKENDS[request.node.callspec.params["open_store"]](request, True),
                        opened)
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: OpenStore, tmp_path: Path) -> Store:
    return open_store(tmp_path)


def article(article_id: str, hours: int = 0, source: str = "Wire") -> Article:
    return Article(article_id, f"title {article_id}", "body", source, None,
                   datetime(2024, 1, 1, hours % 24, tzinfo=UTC), "en")


def vec(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=8).astype(np.float32)


def presentation(representative: ArticleKey) -> Presentation:
    return Presentation(label="label", representative=representative, summary=[], hotness=1.0,
                        top_sources=[("AP", 2)], source_count=1, presented_count=2,
                        seen_presented_count=0)


def test_insert_read_vector_roundtrip_and_index_log(store: Store) -> None:
    with store.write() as writer:
        key = writer.insert_article(article("a"), vec(1), "h")
    with store.read() as reader:
        stored = reader.article_by_id("a")
        assert stored is not None and stored.key == key and stored.story_id is None
        np.testing.assert_array_equal(reader.vectors([key])[0], vec(1))
        assert reader.index_ops_since(0) == [(1, key, "add")]
        assert reader.index_seq() == 1


def test_committed_writes_survive_closing_and_reopening(
    open_store: OpenStore, tmp_path: Path,
) -> None:
    first = open_store(tmp_path)
    with first.write() as writer:
        key = writer.insert_article(article("a"), vec(1), "h")
        writer.set_meta("stream_time", "12.5")
    first.close()
    again = open_store(tmp_path)
    with again.read() as reader:
        assert reader.article_count() == 1 and reader.meta("stream_time") == "12.5"
        np.testing.assert_array_equal(reader.vectors([key])[0], vec(1))
    assert again.ping()
    again.close()


def test_failed_write_rolls_back_everything(store: Store) -> None:
    with pytest.raises(RuntimeError), store.write() as writer:
        key = writer.insert_article(article("a"), vec(1), "h")
        story = writer.create_story()
        writer.assign(key, story, None, True)
        writer.add_term_frequencies({"quake": 1})
        raise RuntimeError("crash in the middle")
    with store.read() as reader:
        assert reader.article_count() == 0
        assert reader.index_seq() == 0
        assert reader.story(1) is None
        assert reader.term_frequencies() == {}


def test_reader_sees_a_consistent_snapshot(store: Store) -> None:
    with store.write() as writer:
        writer.insert_article(article("a"), vec(1), "h")
    with store.read() as reader:
        before = reader.article_count()
        with store.write() as writer:
            writer.insert_article(article("b"), vec(2), "h")
        assert reader.article_count() == before == 1
    with store.read() as reader:
        assert reader.article_count() == 2


def test_one_writer_at_a_time(store: Store) -> None:
    order: list[str] = []
    first_in = threading.Event()

    def second() -> None:
        first_in.wait()
        with store.write() as writer:
            order.append("second")
            writer.insert_article(article("b"), vec(2), "h")

    thread = threading.Thread(target=second)
    thread.start()
    with store.write() as writer:
        first_in.set()
        time.sleep(0.2)  # the second writer is waiting meanwhile
        order.append("first")
        writer.insert_article(article("a"), vec(1), "h")
    thread.join(10)
    assert order == ["first", "second"]
    with store.read() as reader:
        assert reader.article_count() == 2


def test_story_rows_assignments_and_time_order(store: Store) -> None:
    with store.write() as writer:
        late = writer.insert_article(article("late", hours=5), vec(1), "h")
        early = writer.insert_article(article("early", hours=1), vec(2), "h")
        story = writer.create_story()
        for key in (late, early):
            writer.assign(key, story, 0.9, False)
        writer.save_story(story, status="active", first_seen=1.0, last_updated=5.0,
                          activity=5.0, article_count=2, centroid_sum=np.ones(8))
        writer.set_story_presentation(story, presentation(early))
    with store.read() as reader:
        row = reader.story(story)
        assert row is not None and row.article_count == 2 and row.source_count == 1
        assert [a.id for a in reader.story_articles(story)] == ["early", "late"]
        ordered = [a.id for batch in reader.iter_articles_in_time_order(batch=1) for a in batch]
        assert ordered == ["early", "late"]
        assert reader.assignments() == {"late": StoryId(story), "early": StoryId(story)}
        assert reader.first_members([story]) == {story: min(late, early)}
        assert reader.story_span(story) == (
            datetime(2024, 1, 1, 1, tzinfo=UTC).timestamp(),
            datetime(2024, 1, 1, 5, tzinfo=UTC).timestamp())


def test_delete_article_logs_index_removal(store: Store) -> None:
    with store.write() as writer:
        key = writer.insert_article(article("a"), vec(1), "h")
    with store.write() as writer:
        writer.delete_article(key)
    with store.read() as reader:
        assert reader.article_by_id("a") is None
        assert [op for _, _, op in reader.index_ops_since(0)] == ["add", "remove"]


def test_lookups_of_many_keys_return_every_one(store: Store) -> None:
    # more keys than one query may take at once
    count = 2 * IN_CHUNK + 7
    with store.write() as writer:
        keys = [writer.insert_article(article(f"a{i}"), vec(i), f"h{i}", None,
                                      np.arange(4, dtype=np.uint64).tobytes())
                for i in range(count)]
        story = writer.create_story()
        for key in keys:
            writer.assign(key, story, None, False)
    with store.read() as reader:
        assert len(reader.articles_by_keys(keys)) == count
        assert len(reader.articles_by_ids(f"a{i}" for i in range(count))) == count
        vectors = reader.vectors(list(reversed(keys)))
        np.testing.assert_array_equal(vectors[0], vec(count - 1))
        assert len(reader.signatures_of(keys)) == count
        assert len(reader.placement(keys)) == count


def test_term_frequencies_and_meta(store: Store) -> None:
    with store.write() as writer:
        writer.add_term_frequencies({"quake": 2, "peru": 1})
        writer.add_term_frequencies({"quake": -1})
        writer.set_meta("embedding_model", "m")
    with store.read() as reader:
        assert reader.term_frequencies() == {"quake": 1, "peru": 1}
        assert reader.meta("embedding_model") == "m" and reader.meta("missing") is None
    with store.write() as writer:
        writer.clear_term_frequencies()
    with store.read() as reader:
        assert reader.term_frequencies() == {}


def test_presentation_claims_are_released_or_recovered(store: Store) -> None:
    with store.write() as writer:
        key = writer.insert_article(article("a"), vec(1), "h")
        stories = [writer.create_story() for _ in range(3)]
        writer.assign(key, stories[0], None, True)
        for story in stories:
            writer.save_story(story, status="active", first_seen=None, last_updated=None,
                              activity=0.0, article_count=1, centroid_sum=np.ones(8))
    with store.write() as writer:
        assert writer.dirty_stories() == stories
        claimed = writer.claim_for_presentation(2)
    assert claimed == stories[:2]
    with store.read() as reader:  # claimed stories still count as waiting
        assert reader.dirty_story_count() == 3
    with store.write() as writer:
        assert writer.dirty_stories() == stories[2:]
    with store.write() as writer:  # the claimer crashed: the next start takes them back
        assert writer.recover_claims() == 2
        assert writer.dirty_stories() == stories
        claimed = writer.claim_for_presentation(1)
        writer.set_story_presentation(claimed[0], presentation(key), claimed=True)
        writer.release_claims(claimed, presented=True)
        assert writer.dirty_stories() == stories[1:]


def test_merged_story_keeps_answering_with_its_target(store: Store) -> None:
    with store.write() as writer:
        a = writer.insert_article(article("a"), vec(1), "h")
        b = writer.insert_article(article("b"), vec(2), "h")
        keep, absorb = writer.create_story(), writer.create_story()
        writer.assign(a, keep, None, True)
        writer.assign(b, absorb, None, True)
        writer.move_assignments(absorb, keep)
        writer.save_story(absorb, status="merged", first_seen=None, last_updated=None,
                          activity=0.0, article_count=0, centroid_sum=np.zeros(8),
                          merged_into=keep)
        writer.add_event(keep, "merged", None, other_id=absorb)
    with store.read() as reader:
        row = reader.story(absorb)
        assert row is not None and row.status == "merged" and row.merged_into == keep
        assert sorted(reader.member_keys(keep)) == sorted([a, b])
        assert reader.merged_stories() == [(absorb, keep)]


def test_a_reading_process_sees_each_commit_and_can_never_write(
    open_store: OpenStore, open_reader: OpenStore, tmp_path: Path,
) -> None:
    writing = open_store(tmp_path)
    reading = open_reader(tmp_path)
    with reading.read() as reader:
        assert reader.index_seq() == 0 and reader.story_event_seq() == 0
    with writing.write() as writer:
        key = writer.insert_article(article("a"), vec(1), "h")
        story = writer.create_story()
        writer.assign(key, story, None, True)
        writer.add_event(story, "created", 0.0, "a")
    with reading.read() as reader:
        assert reader.article_by_id("a") is not None
        assert reader.index_seq() == 1 and reader.story_event_seq() == 1
    with pytest.raises(ReadOnlyStore), reading.write():
        pass
    with writing.write() as writer:  # the writer is not held up by the reader
        writer.add_event(story, "grew", 1.0, "a")
    with reading.read() as reader:
        assert reader.story_event_seq() == 2
    reading.close()
    writing.close()


def _story(writer: Writer, *, first: float, last: float, count: int,
           status: str = "active") -> StoryId:
    story = writer.create_story()
    writer.save_story(story, status=status, first_seen=first, last_updated=last,
                      activity=last, article_count=count, centroid_sum=np.ones(8))
    return story


def test_storyline_totals_follow_their_stories_in_the_same_write(store: Store) -> None:
    with store.write() as writer:
        old = _story(writer, first=10.0, last=20.0, count=2, status="dormant")
        new = _story(writer, first=30.0, last=40.0, count=3)
        other = _story(writer, first=5.0, last=6.0, count=1)
        line = writer.create_storyline(31.0)
        writer.set_storyline(old, line)
        writer.set_storyline(new, line)
    with store.read() as reader:
        row = reader.storyline(line)
        assert row is not None and row.created_at == 31.0
        assert (row.story_count, row.article_count, row.first_seen, row.last_updated,
                row.activity, row.status) == (2, 5, 10.0, 40.0, 40.0, "active")
        assert [s.id for s in reader.storyline_stories(line)] == [old, new]
        assert reader.story_storylines() == {old: line, new: line}
        assert reader.story_storylines_of([other, new, 999]) == {other: None, new: line,
                                                                 StoryId(999): None}
    with store.write() as writer:  # a member grows, ages, is merged away, moves out
        writer.save_story(new, status="dormant", first_seen=30.0, last_updated=50.0,
                          activity=50.0, article_count=4, centroid_sum=np.ones(8))
        row = writer.storyline(line)
        assert row is not None and (row.article_count, row.last_updated, row.status) == (
            6, 50.0, "dormant")
        writer.set_status(old, "merged")
        row = writer.storyline(line)
        assert row is not None and (row.story_count, row.article_count) == (1, 4)
        writer.set_storyline(other, line)
        writer.set_storyline(new, None)
        row = writer.storyline(line)
        assert row is not None and (row.story_count, row.first_seen, row.last_updated) == (
            1, 5.0, 6.0)
        writer.delete_story(other)
        row = writer.storyline(line)
        assert row is not None and (row.story_count, row.article_count) == (0, 0)


def test_storylines_list_by_activity_with_two_stories_or_more(store: Store) -> None:
    with store.write() as writer:
        lines = []
        for n in range(3):
            line = writer.create_storyline(None)
            for m in range(2 if n != 1 else 1):  # the middle one has a single story
                writer.set_storyline(_story(writer, first=n * 10.0, last=n * 10.0 + m,
                                            count=1), line)
            lines.append(line)
    with store.read() as reader:
        listed = reader.list_storylines(("active",), 10, None)
        assert [r.id for r in listed] == [lines[2], lines[0]]
        page = reader.list_storylines(("active",), 1, None)
        after = (page[0].activity, page[0].id)
        assert [r.id for r in reader.list_storylines(("active",), 10, after)] == [lines[0]]
        assert [r.id for r in reader.list_storylines(("active",), 10, None, since=15.0)] == [
            lines[2]]
        assert len(reader.list_storylines(("active",), 10, None, min_stories=1)) == 3
        assert reader.list_storylines(("dormant",), 10, None) == []


def test_retired_and_renamed_storylines_keep_answering(store: Store) -> None:
    with store.write() as writer:
        first, second = writer.create_storyline(None), writer.create_storyline(None)
        story = _story(writer, first=1.0, last=2.0, count=1)
        writer.set_storyline(story, second)
        writer.retire_storyline(first, second)
    with store.read() as reader:
        row = reader.storyline(first)
        assert row is not None and row.status == "merged" and row.merged_into == second
    with store.write() as writer:
        writer.rename_storylines([(second, StorylineId(100))])
        # a storyline id once used is not handed out again
        assert writer.create_storyline(None) > 100
    with store.read() as reader:
        assert reader.storyline(second) is None
        assert reader.story_storylines() == {story: 100}
        row = reader.storyline(first)
        assert row is not None and row.merged_into == 100
    with store.write() as writer:
        writer.clear_clustering()
    with store.read() as reader:
        assert reader.storyline(100) is None and reader.story_storylines() == {}


def test_a_partitioned_writers_stories_name_their_partition(store: Store) -> None:
    with store.write() as writer:
        single = writer.create_story()
        first = writer.create_story(partition=0)
        second = writer.create_story(StoryId(single + 50), partition=1)
    with store.read() as reader:
        assert reader.story_partitions() == {first: 0, second: 1}
    with store.write() as writer:  # a single writer's story given to a partition
        writer.set_story_partition(single, 1)
        writer.set_story_partition(first, 1)
    with store.read() as reader:
        assert reader.story_partitions() == {single: 1, first: 1, second: 1}
        assert reader.story_partitions([first, StoryId(single + 999)]) == {first: 1}


def test_the_stories_changed_since_an_event(store: Store) -> None:
    with store.write() as writer:
        first, second, third = (writer.create_story() for _ in range(3))
        writer.add_event(first, "created", None, "a")
    with store.read() as reader:
        seq, changed = reader.stories_changed_since(0)
    assert changed == [first]
    with store.write() as writer:
        writer.add_event(second, "merged", None, other_id=third)
    with store.read() as reader:
        newest, changed = reader.stories_changed_since(seq)
        assert changed == [second, third] and newest > seq
        assert reader.stories_changed_since(newest) == (newest, [])


def test_every_store_has_an_id_of_its_own_that_stays(open_store: OpenStore,
                                                      tmp_path: Path) -> None:
    """Index snapshots record it, so that one store never loads another's."""
    first = open_store(tmp_path / "a")
    second = open_store(tmp_path / "b")
    ids = []
    for store in (first, second):
        with store.read() as reader:
            ids.append(reader.meta("store_id"))
    assert all(ids) and ids[0] != ids[1]
    first.close()
    with open_store(tmp_path / "a").read() as reader:
        assert reader.meta("store_id") == ids[0]
