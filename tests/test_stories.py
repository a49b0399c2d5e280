"""Evolving stories on the real store and index (hashing embedder): lifecycle on
a synthetic clock, ids through merges and re-clusters, near-duplicates and
related coverage. What a reader reads of a story is in test_story_text.py."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from cluster.articles.incoming import Article
from cluster.articles.jsonl import read_labelled
from cluster.clustering.story_ids import vanished_story_targets
from cluster.errors import InvalidInput, NotFound
from cluster.service.facade import StoryService
from cluster.service.view_builders import (
    SAME_STORY_CAP,
    RelatedFilters,
    StoryQuery,
    _choose,
    related_items,
)
from cluster.store.reader import SQLReader as Reader
from cluster.store.records import StoredArticle
from cluster.types import ArticleKey, StoryId
from tests.conftest import DEMO, make_settings

MakeArticle = Callable[..., Article]

WIRE = ("Rescue teams in southern Peru searched collapsed adobe homes on Sunday after a "
        "magnitude 7.1 earthquake struck near Arequipa, killing at least 12 people and "
        "damaging hundreds of buildings, regional officials said in a statement. The quake "
        "was felt as far away as Lima and La Paz, and a brief tsunami warning for the coast "
        "was lifted after an hour. Thousands of residents spent the night outdoors as "
        "aftershocks continued, and the government declared a state of emergency in three "
        "provinces while soldiers delivered water, tents and blankets to the worst hit towns.")

QUAKES = [
    "Earthquake of magnitude 7 strikes southern Peru near Arequipa",
    "Peru earthquake near Arequipa: rescuers dig through rubble",
    "Arequipa earthquake toll rises as Peru counts damage",
    "Aftershocks rattle Arequipa after Peru earthquake",
    "Aid arrives in Arequipa after southern Peru earthquake",
]


@pytest.fixture
def loose(tmp_path: Path) -> Iterator[StoryService]:
    """A service whose bag-of-words embedder joins differently worded headlines."""
    params = {"join_threshold": 0.15, "headline_threshold": 0.15}
    svc = StoryService(make_settings(tmp_path, cluster=params)).open()
    yield svc
    svc.close()


def _kinds(service: StoryService, story: int) -> list[str]:
    return [e.kind for e in service.story_events(story).events]


def test_status_follows_the_stream_clock_and_is_recorded(
    service: StoryService, make_article: MakeArticle
) -> None:
    old = service.ingest([make_article("volcano erupts iceland lava")])[0]
    service.ingest([make_article("football cup final penalties", hours=24 * 2)])
    assert service.get_story(old.story_id).story.status == "active"
    service.ingest([make_article("senate passes budget bill", hours=24 * 4)])
    assert service.get_story(old.story_id).story.status == "dormant"
    service.ingest([make_article("chess champion wins title", hours=24 * 35)])
    assert service.get_story(old.story_id).story.status == "archived"
    assert _kinds(service, old.story_id) == ["created", "status_changed", "status_changed"]
    archived = service.list_stories(StoryQuery(status="archived"))
    assert old.story_id in [s.id for s in archived.items]


def test_wall_clock_ages_stories_without_new_articles(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    now = [make_article("x").timestamp or 0.0]
    svc = StoryService(make_settings(tmp_path, clock="wall"), wall_clock=lambda: now[0]).open()
    story = svc.ingest([make_article("volcano erupts iceland lava")])[0].story_id
    assert svc.get_story(story).story.status == "active"
    now[0] += 5 * 86_400
    svc.maintain()
    assert svc.get_story(story).story.status == "dormant"
    now[0] += 40 * 86_400
    svc.maintain()
    assert svc.get_story(story).story.status == "archived"
    svc.close()


def test_recluster_keeps_ids_and_vanished_ids_answer(
    tmp_path: Path,
) -> None:
    svc = StoryService(make_settings(tmp_path)).open()
    from cluster.articles.importer import import_articles

    import_articles(svc, read_labelled(DEMO))
    before = svc.assignments()
    svc.rebuild(recluster=True)
    after = svc.assignments()
    kept = sum(before[a] == after[a] for a in before) / len(before)
    assert kept >= 0.95
    # A story id that the new clustering no longer has answers with its successor.
    targets = vanished_story_targets({"a": StoryId(1), "b": StoryId(1)},
                                     {"a": StoryId(7), "b": StoryId(8)})
    assert targets == {StoryId(7): StoryId(1), StoryId(8): StoryId(1)}
    svc.close()


def test_vanished_story_id_answers_after_recluster(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    # Every article its own story first; then a re-cluster with a low threshold
    # joins them, and the id that lost answers with merged_into.
    strict = {"join_threshold": 0.99, "headline_threshold": 0.99, "merge_threshold": 1.01}
    svc = StoryService(make_settings(tmp_path, cluster=strict)).open()
    first, second = svc.ingest([
        make_article("volcano erupts in iceland lava flows toward town", id="v1"),
        make_article("volcano erupts in iceland lava flows toward the town", id="v2", hours=1),
    ])
    assert first.story_id != second.story_id
    svc.close()
    loose = {"join_threshold": 0.3, "headline_threshold": 0.3, "merge_threshold": 1.01}
    svc = StoryService(make_settings(tmp_path, cluster=loose)).open()
    svc.rebuild(recluster=True)
    after = svc.assignments()
    assert after["v1"] == after["v2"] == first.story_id
    detail = svc.get_story(second.story_id)
    assert detail.merged_into == first.story_id and detail.story.article_count == 2
    assert _kinds(svc, second.story_id) == ["merged"]
    svc.close()


def test_near_duplicates_are_marked_collapsed_and_not_counted_as_outlets(
    service: StoryService, make_article: MakeArticle
) -> None:
    edited = WIRE.replace("Sunday", "Sunday morning").replace("at least 12", "at least 13")
    results = service.ingest([
        make_article("Quake kills 12 in Peru", WIRE, id="orig", source="AP"),
        make_article("Quake kills 12 in Peru", WIRE + " (AP)", id="copy1", source="Daily One",
                     hours=1),
        make_article("Quake kills 13 in Peru", edited, id="copy2", source="AP", hours=2),
        make_article("Quake in Peru", "Earthquake in southern Peru: officials count the dead "
                     "and rescuers dig through rubble near Arequipa.", id="own", source="BBC",
                     hours=3),
    ])
    assert [r.duplicate_of for r in results] == [None, "orig", "orig", None]
    assert service.get_article("copy2").duplicate_of == "orig"
    related = service.related("own", RelatedFilters(k=10, per_source=0))
    originals = [item for item in related.items if item.id == "orig"]
    assert len(originals) == 1 and originals[0].duplicates == 2
    assert not any(item.id.startswith("copy") for item in related.items)
    # deleting the original promotes its first copy
    service.delete_article("orig")
    assert service.get_article("copy1").duplicate_of is None
    assert service.get_article("copy2").duplicate_of == "copy1"


def test_related_obeys_per_source_filters_and_puts_the_story_first(
    loose: StoryService, make_article: MakeArticle
) -> None:
    loose.ingest([
        make_article(QUAKES[0], id="q0", source="AP"),
        make_article(QUAKES[1], id="q1", source="AP", hours=1),
        make_article(QUAKES[2], id="q2", source="AP", hours=2),
        make_article(QUAKES[3], id="q3", source="Reuters", hours=3),
        make_article(QUAKES[4], id="q4", source="BBC", hours=30),
    ])
    assert len(set(loose.assignments().values())) == 1
    default = loose.related("q0", RelatedFilters(k=10))
    outlets = [item.source for item in default.items]
    assert len(outlets) == len(set(outlets))  # one per outlet by default
    assert all(item.same_story for item in default.items[:2])
    every = loose.related("q0", RelatedFilters(k=10, per_source=0))
    assert sum(item.source == "AP" for item in every.items) == 2
    assert [i.score for i in every.items if i.same_story] == sorted(
        (i.score for i in every.items if i.same_story), reverse=True)
    excluded = loose.related("q0", RelatedFilters(k=10, per_source=0,
                                                    exclude_sources=frozenset({"ap"})))
    assert {item.source for item in excluded.items} <= {"Reuters", "BBC"}
    start = loose.get_article("q4").published_at
    assert start is not None
    since = datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp()
    late = loose.related("q0", RelatedFilters(k=10, per_source=0, since=since))
    assert [item.id for item in late.items] == ["q4"]
    with pytest.raises(InvalidInput):
        loose.related("q0", RelatedFilters(k=10, since=since, until=since - 1))
    with pytest.raises(InvalidInput):
        loose.related("q0", RelatedFilters(k=10, per_source=-1))


def test_related_reads_few_rows_of_a_big_story_and_answers_as_if_it_read_them_all(
    loose: StoryService, make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    outlets = ["AP", "Reuters", "BBC", "AFP", "CNN", "NPR", "DW"]
    loose.ingest([make_article(f"{QUAKES[n % 5]} update {n}", id=f"b{n}",
                               source=outlets[n % len(outlets)], hours=n // 4)
                  for n in range(160)])
    story = loose.get_article("b0").story_id
    assert story is not None and loose.get_story(story).story.article_count >= 150
    read: list[int] = []
    real = Reader.articles_by_keys

    def counting(self: Reader, keys: Iterable[int]) -> dict[ArticleKey, StoredArticle]:
        wanted = list(keys)
        read.append(len(wanted))
        return real(self, wanted)

    late = loose.get_article("b150").published_at
    assert late is not None
    since = datetime.fromisoformat(late.replace("Z", "+00:00")).timestamp()
    cases = [RelatedFilters(k=10), RelatedFilters(k=10, per_source=0),
             RelatedFilters(k=5, per_source=2), RelatedFilters(k=10, since=since),
             RelatedFilters(k=30, per_source=0, exclude_sources=frozenset({"ap", "bbc"}))]
    with loose.store.read() as reader:
        article = reader.article_by_id("b7")
        assert article is not None
        vector = reader.vectors([article.key])[0]
        members = reader.newest_member_keys(story, SAME_STORY_CAP)
        everything = sorted(((float(s), int(m)) for m, s in zip(
            members, reader.vectors(members) @ vector, strict=True)),
            key=lambda pair: (-round(pair[0], 6), pair[1]))
        scores, keys = loose.index.search(vector.reshape(1, -1), 50)
        neighbours = [(int(k), float(s)) for k, s in zip(keys[0], scores[0], strict=True)
                      if k >= 0]
        monkeypatch.setattr(Reader, "articles_by_keys", counting)
        for filters in cases:
            read.clear()
            got = related_items(reader, loose.index, vector, filters, article.key, story,
                                article.id, article.embed_hash)
            first_read = read[0]
            expected = _choose(reader, everything, set(), neighbours, filters, article.key,
                               story, article.id, article.embed_hash)
            assert got == expected, filters
            assert got and len(got) <= filters.k
            if filters.since is None and filters.per_source != 0:
                assert first_read <= 100 < len(members)  # not every member's row
        read.clear()
        related_items(reader, loose.index, vector, RelatedFilters(k=10, since=since),
                      article.key, story, article.id, article.embed_hash)
        assert len(read) > 1  # the filter left too few: it read further


def test_related_scores_members_the_index_lacks_from_the_store(
    loose: StoryService, make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    loose.ingest([make_article(QUAKES[n], id=f"q{n}", source=f"Outlet {n}", hours=n)
                  for n in range(5)])
    before = loose.related("q0", RelatedFilters(k=10))
    assert len(before.items) == 4 and all(i.same_story for i in before.items)
    with loose.store.read() as reader:
        missing = reader.article_by_id("q3")
        assert missing is not None
    # as while a rebuild refills the index: the member is scored from the store
    loose.index.remove(np.array([missing.key], dtype=np.int64))
    read: list[list[int]] = []
    real = Reader.vectors

    def counting(self: Reader, keys: Sequence[int]) -> np.ndarray:
        read.append(list(keys))
        return real(self, keys)

    monkeypatch.setattr(Reader, "vectors", counting)
    after = loose.related("q0", RelatedFilters(k=10))
    assert after == before
    assert [missing.key] in read


def test_hotness_orders_growing_multi_source_stories_first(
    loose: StoryService, make_article: MakeArticle
) -> None:
    loose.ingest([make_article("chess champion wins title", id="c", hours=10)])
    loose.ingest([make_article(QUAKES[n], source=f"Outlet {n}", hours=n) for n in range(4)])
    hot = loose.list_stories(StoryQuery(order="hotness")).items
    assert hot[0].article_count == 4 and hot[0].hotness > hot[1].hotness
    recent = loose.list_stories(StoryQuery(order="last_updated")).items
    assert recent[0].headline == "chess champion wins title"
    wide = loose.list_stories(StoryQuery(min_sources=2)).items
    assert [s.article_count for s in wide] == [4]
    assert [s.source for s in hot[0].top_sources][:1] == ["Outlet 0"]


def test_story_search_finds_the_nearest_story(
    service: StoryService, make_article: MakeArticle
) -> None:
    service.ingest([
        make_article("volcano erupts iceland lava", id="v"),
        make_article("senate passes budget bill", id="s", hours=1),
    ])
    found = service.search_stories("lava from the iceland volcano")
    assert found.items[0].headline == "volcano erupts iceland lava"
    assert found.items[0].match is not None and found.items[0].match > 0
    with pytest.raises(InvalidInput):
        service.search_stories("   ")


def test_timeline_and_events_of_a_story(loose: StoryService, make_article: MakeArticle) -> None:
    results = loose.ingest([
        make_article(QUAKES[0], source="AP"),
        make_article(QUAKES[1], source="AP", hours=1),
        make_article(QUAKES[2], source="BBC", hours=25),
    ])
    assert len({r.story_id for r in results}) == 1
    story = results[0].story_id
    detail = loose.get_story(story)
    assert [(d.articles, [s.source for s in d.sources]) for d in detail.timeline] == [
        (2, ["AP"]), (1, ["BBC"])]
    history = loose.story_events(story, limit=2)
    assert [e.kind for e in history.events] == ["created", "grew"]
    rest = loose.story_events(story, limit=2, cursor=history.next_cursor)
    assert [e.kind for e in rest.events] == ["grew"] and rest.next_cursor is None
    with pytest.raises(NotFound):
        loose.story_events(99999)


def test_related_min_score_drops_weak_coverage_of_other_stories(
    loose: StoryService, make_article: MakeArticle
) -> None:
    loose.ingest([make_article(QUAKES[0], id="q0"), make_article(QUAKES[1], id="q1", hours=1),
                  make_article("chess champion wins title", id="c", hours=2)])
    everything = loose.related("q0", RelatedFilters(k=10, per_source=0))
    assert any(not item.same_story for item in everything.items)
    strict = loose.related("q0", RelatedFilters(k=10, per_source=0, min_score=0.99))
    assert strict.items and all(item.same_story for item in strict.items)


def test_a_dormant_story_wakes_up_for_a_strong_follow_up(
    service: StoryService, make_article: MakeArticle
) -> None:
    first = service.ingest([make_article(WIRE[:200], WIRE, id="w0", source="AP")])[0]
    service.ingest([make_article("chess champion wins title", id="c", hours=24 * 5)])
    assert service.get_story(first.story_id).story.status == "dormant"
    follow = service.ingest([make_article(WIRE[:200], WIRE + " Repairs began on Friday.",
                                          id="w1", source="BBC", hours=24 * 6)])[0]
    assert follow.story_id == first.story_id and not follow.new_story
    assert service.get_story(first.story_id).story.status == "active"
    weak = service.ingest([make_article("Peru weather forecast", "Rain in Lima.", id="p",
                                        hours=24 * 14)])[0]
    assert weak.new_story


def test_quiet_stories_keep_only_their_centroid_and_restarts_load_profiles_lazily(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    settings = make_settings(tmp_path)
    svc = StoryService(settings).open()
    old = svc.ingest([make_article(WIRE[:200], WIRE, id="w0", source="AP")])[0].story_id
    svc.ingest([make_article("chess champion wins title", id="c", hours=24 * 5)])
    # outside the join window: out of the per-article scan and out of memory
    assert old not in svc.clusterer.stories_ and old in svc.clusterer.quiet_
    nearest = svc.clusterer.nearest_stories(svc.embedder.embed([WIRE[:200]])[0], 1)
    assert nearest[0][0] == old  # story search still sees it
    svc.close()

    again = StoryService(settings).open()
    try:
        recent = [s for s in again.clusterer.stories_.values()]
        assert recent and all(state.profile is None for state in recent)  # not read yet
        assert old in again.clusterer.quiet_
        follow = again.ingest([make_article(WIRE[:200], WIRE + " Repairs began on Friday.",
                                            id="w1", source="BBC", hours=24 * 6)])[0]
        assert follow.story_id == old  # woken: its state and profile read back
        state = again.clusterer.stories_[old]
        assert state.count == 2 and state.profile is not None
        assert "arequipa" in state.profile.weights
    finally:
        again.close()

