"""Evolving stories on the real store and index (hashing embedder): lifecycle on
a synthetic clock, ids through merges and re-clusters, labels, summaries,
near-duplicates and related coverage."""

from __future__ import annotations

import re
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
from cluster.store.reader import SQLiteReader as Reader
from cluster.store.records import StoredArticle
from cluster.stories.labels import LabelSource, label_terms
from cluster.text.lexical import TermStats, article_terms
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


def test_labels_favour_shared_names_and_are_deterministic() -> None:
    members = [
        LabelSource("Envoys meet on North Korea before APEC",
                    "Officials from Washington and Moscow met in Beijing about North Korea."),
        LabelSource("North Korea talks continue", "Talks on North Korea resumed in Beijing."),
        LabelSource("APEC leaders arrive", "Leaders gathered as North Korea talks went on."),
    ]
    stats = TermStats()
    for text in ["Storm hits coast", "Bank holds rates", "Team wins final"] + [
            f"{m.title}\n{m.text}" for m in members]:
        stats.add(article_terms(text))
    terms = label_terms(members, stats)
    assert terms[0] == "North Korea" and 3 <= len(terms) <= 5
    assert "Beijing" in terms and terms == label_terms(members, stats)
    assert label_terms([], stats) == []


def test_labels_keep_names_whole_and_leave_out_their_acronyms() -> None:
    members = [
        LabelSource("CDC backs booster shots for older adults",
                    "Advisers to the Centers for Disease Control and Prevention voted on "
                    "Thursday to back booster shots for adults over 65, the CDC said."),
        LabelSource("US health agency recommends boosters",
                    "The Centers for Disease Control and Prevention recommended boosters "
                    "for older Americans after a meeting with the Food and Drug "
                    "Administration."),
        LabelSource("Boosters for over-65s get CDC approval",
                    "Officials at the Centers for Disease Control and Prevention approved "
                    "the booster shots late on Thursday."),
    ]
    stats = TermStats()
    for text in ["Storm hits coast", "Bank holds rates", "Team wins final",
                 "Disease spreads in the control group", "Prevention works"] + [
            f"{m.title}\n{m.text}" for m in members]:
        stats.add(article_terms(text))
    terms = label_terms(members, stats)
    assert "Centers for Disease Control and Prevention" in terms, terms
    for piece in ("Disease Control", "Prevention", "Centers", "CDC", "Disease"):
        assert piece not in terms, terms
    # "and" joins a name only after "of" or "for": two countries stay two names
    pair = [LabelSource("Talks", f"Envoys said Russia and China met in Beijing {n}.")
            for n in range(3)]
    assert not any(" and " in term for term in label_terms(pair, stats))


def test_summary_sentences_are_attributed_and_from_several_outlets(
    service: StoryService, make_article: MakeArticle
) -> None:
    texts = [
        ("AP", "A magnitude 7.1 earthquake struck southern Peru near Arequipa on Saturday. "
               "Buildings shook across the region, the US Geological Survey said."),
        ("Reuters", "At least 12 people were killed after the earthquake hit southern Peru. "
                    "Rescuers searched collapsed adobe buildings near Arequipa."),
        ("BBC", "Residents of Arequipa spent the night outdoors after the Peru earthquake. "
                "Aftershocks followed the magnitude 7.1 quake, officials said."),
    ]
    ids = [r.story_id for r in service.ingest([
        make_article("Earthquake strikes southern Peru near Arequipa", text, source=source,
                     id=f"eq-{n}", hours=n)
        for n, (source, text) in enumerate(texts)])]
    assert len(set(ids)) == 1
    story = service.get_story(ids[0]).story
    assert 2 <= len(story.summary) <= 3
    sources = {s.source for s in story.summary}
    assert len(sources) == len(story.summary)  # one sentence per article, different outlets
    for sentence in story.summary:
        article = service.get_article(sentence.article_id)
        assert sentence.text in article.text and article.source == sentence.source
    assert story.headline is not None and "Peru" in story.label
    again = service.get_story(ids[0]).story
    assert again.summary == story.summary and again.label == story.label


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


def test_a_deleted_article_leaves_the_summary_at_once(
    service: StoryService, make_article: MakeArticle
) -> None:
    outlets = ["AP", "Reuters", "BBC", "AFP", "DW", "NPR"]
    results = service.ingest([
        make_article("Earthquake strikes southern Peru near Arequipa",
                     f"The magnitude 7.1 earthquake near Arequipa was reported by {outlet} "
                     f"reporter number {n}. Rescuers from {outlet} said buildings collapsed "
                     f"in district {n} of the region.", source=outlet, id=f"pe-{n}", hours=n)
        for n, outlet in enumerate(outlets)])
    story_id = results[0].story_id
    assert len({r.story_id for r in results}) == 1
    quoted = service.get_story(story_id).story.summary[0].article_id
    service.delete_article(quoted)  # 6 -> 5 members: not a "material" change of size
    story = service.get_story(story_id).story
    assert story.article_count == 5 and story.summary
    assert quoted not in {s.article_id for s in story.summary}
    assert all(service.get_article(s.article_id).story_id == story_id for s in story.summary)


def test_summaries_leave_out_rewrites_and_cut_sentences_and_labels_whole_words() -> None:
    import numpy as np

    from cluster.stories.labels import LabelSource, format_label, label_terms
    from cluster.stories.summaries import SummaryMember, summarise
    from cluster.text.lexical import TermStats

    lead = ("Japan asked Washington and Moscow to share details of their talks on North "
            "Korea missile launches before the APEC summit in Shenzhen.")
    members = [
        SummaryMember("a", "Japan urges U.S., Russia to keep Tokyo informed", lead, "Kyodo"),
        SummaryMember("b", "Japan asks for details of talks", lead.replace(
            "Japan asked", "On Monday Japan asked"), "Japan Times"),
        SummaryMember("c", "Tokyo wants a briefing", lead.replace("in Shenzhen", "in "
                      "Shenzhen, officials said"), "NHK"),
        SummaryMember("d", "Seoul welcomes talks", "South Korea welcomed the meeting "
                      "between U.S. and Russian envoys and urged denuclearisation. Seoul "
                      "said more talks would follow in...", "Yonhap"),
    ]
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    stats = TermStats()
    picked = summarise(members, vectors, vectors.mean(axis=0), stats)
    texts = [s.text for s in picked]
    assert sum("Japan asked" in t for t in texts) <= 1  # one of the rewrites, not three
    assert not any(t.rstrip().endswith(("...", "…")) for t in texts)
    assert any(t.startswith("South Korea welcomed") for t in texts)
    long_text = "The new rules affect the Food and Drug Administration " + "x" * 513 + \
        " and the national medicines authority said."
    label = format_label(label_terms([LabelSource("Drug rules tightened", long_text)] * 3,
                                     stats))
    assert "autho" not in label.replace("authority", "")


@pytest.mark.parametrize(("title", "source", "headline"), [
    ("VIDEO: Will the default spell reform for China's debt markets?", "CNBC",
     "Will the default spell reform for China's debt markets?"),
    ("ANALYSIS-GM must address recall soon", "Reuters", "GM must address recall soon"),
    ("WATCH: LIVE: Senate votes on the budget", "PBS", "Senate votes on the budget"),
    ("Fed holds rates steady | Reuters", "Reuters", "Fed holds rates steady"),
    ("Fed holds rates steady - The Guardian", "The Guardian", "Fed holds rates steady"),
    ("Gaza war - what comes next", "BBC", "Gaza war - what comes next"),
    ("Breaking the Connection: airlines sever pact", "AP",
     "Breaking the Connection: airlines sever pact"),
    ("Video Games News And Rumors", "X", "Video Games News And Rumors"),
    ("WATCH:", "X", "WATCH:"),
])
def test_story_headlines_drop_section_labels_and_their_own_outlet(
    title: str, source: str, headline: str,
) -> None:
    from cluster.stories.headlines import clean_headline

    assert clean_headline(title, source) == headline


def test_a_news_report_represents_a_story_before_an_opinion_piece(
    service: StoryService, make_article: MakeArticle,
) -> None:
    from cluster.stories.headlines import is_opinion

    news = "Senate passes the budget bill after an overnight sitting"
    opinion = "Opinion: Senate passes the budget bill, and the overnight sitting shows why"
    results = service.ingest([
        make_article(opinion, "The vote on the budget bill.", source="Op", id="op"),
        make_article(news, "The vote on the budget bill.", source="Wire", id="wire", hours=1)])
    assert results[0].story_id == results[1].story_id
    story = service.get_story(results[0].story_id).story
    assert story.headline == news and not is_opinion(story.headline)
    assert is_opinion("Op-Ed: Online exchanges in Lehman terms") and not is_opinion(news)


def test_an_article_in_its_outlets_opinion_section_yields_to_a_news_report(
    service: StoryService, make_article: MakeArticle,
) -> None:
    from cluster.stories.headlines import is_opinion

    column = "Senate passes the budget bill after an overnight sitting at last"
    news = "Senate passes budget bill after overnight sitting"
    results = service.ingest([
        make_article(column, "The vote on the budget bill.", source="Times", id="col",
                     url="https://times.example/opinion/2026/11/budget-bill-senate"),
        make_article(news, "The vote on the budget bill.", source="Wire", id="wire", hours=1,
                     url="https://wire.example/politics/budget-bill-senate")])
    assert results[0].story_id == results[1].story_id
    assert service.get_story(results[0].story_id).story.headline == news
    assert is_opinion("Budget bill", "https://x.example/commentary/budget")
    assert is_opinion("Budget bill", "https://x.example/news/columnists/jane/budget")
    assert not is_opinion("Budget bill", "https://x.example/politics/opinion-poll-budget")
    assert not is_opinion("Budget bill", "https://opinion.example/news/budget")  # the host
    assert not is_opinion("Budget bill", "https://x.example/blog/live-budget-vote")


def test_labels_and_summaries_keep_whole_words_and_sentences_in_other_scripts(
    service: StoryService,
) -> None:
    from datetime import UTC, datetime, timedelta

    from cluster.articles.incoming import Article

    zh = ("美国和俄罗斯特使周六在北京就朝鲜导弹问题举行会谈。双方同意在亚太经合组织峰会前继续对话。"
          "韩国外交部对此表示欢迎。")
    ar = ("التقى مبعوثون من الولايات المتحدة وروسيا في بكين يوم السبت لبحث برنامج الصواريخ. "
          "واتفق الجانبان على مواصلة الحوار قبل قمة أبيك. ورحبت وزارة الخارجية الكورية بالاجتماع.")
    when = datetime(2026, 11, 21, tzinfo=UTC)
    results = service.ingest([
        Article("zh1", "美俄特使在北京就朝鲜问题举行会谈", zh, "新华社", None, when, "zh"),
        Article("zh2", "美俄就朝鲜导弹问题举行会谈", zh, "人民日报", None,
                when + timedelta(hours=1), "zh"),
        Article("ar1", "مبعوثون أمريكيون وروس يلتقون في بكين بشأن كوريا الشمالية", ar, "الجزيرة",
                None, when, "ar"),
        Article("ar2", "محادثات أمريكية روسية في بكين حول صواريخ كوريا الشمالية", ar, "العربية",
                None, when + timedelta(hours=1), "ar")])
    chinese = service.get_story(results[0].story_id).story
    arabic = service.get_story(results[2].story_id).story
    # whole sentences, each as the text has it, ending as a sentence does
    first = "美国和俄罗斯特使周六在北京就朝鲜导弹问题举行会谈。"
    assert [s.text for s in chinese.summary][:1] == [first]
    assert all(s.text in zh and s.text.endswith("。") for s in chinese.summary)
    assert arabic.summary and all(s.text in ar and s.text.endswith(".")
                                  and s.text.count(".") == 1 for s in arabic.summary)
    # label terms are whole words: Arabic words as written; no Chinese clause
    words = set(ar.replace(".", " ").split()) | {
        word for n in (2, 3) for word in service.get_article(f"ar{n - 1}").title.split()}
    for term in arabic.label.split(" · "):
        assert set(term.split()) <= words, term
        assert not {"في", "من", "على"} & set(term.split()), term  # function words
    assert all(len(term) <= 4 for term in chinese.label.split(" · ") if term), chinese.label


def assert_presented_from_members(service: StoryService, story_id: int) -> None:
    """Everything a reader sees of a story comes from its current members."""
    detail = service.get_story(story_id, limit=200)
    story = detail.story
    members = {a.id: service.get_article(a.id) for a in detail.articles}
    assert story.article_count == len(members)
    outlets: dict[str, int] = {}
    for member in members.values():
        outlets[member.source] = outlets.get(member.source, 0) + 1
    assert {s.source: s.articles for s in detail.sources} == outlets
    assert {s.source for s in story.top_sources} <= set(outlets)
    # copies of another member (near-duplicates) do not count as outlets of their own
    assert story.source_count == len({m.source for m in members.values()
                                      if m.duplicate_of is None} or outlets)
    assert sum(day.articles for day in detail.timeline) == len(members)
    assert story.representative_article is not None
    assert story.representative_article.id in members
    assert story.headline in {m.title for m in members.values()}
    for sentence in story.summary:
        assert sentence.article_id in members
        member = members[sentence.article_id]
        assert sentence.text in f"{member.title}\n{member.text}" and sentence.source == (
            member.source)
    words = {w.lower() for m in members.values()
             for w in re.findall(r"[\w'’.-]+", f"{m.title} {m.text}")}
    for term in filter(None, story.label.split(" · ")):
        assert all(w.lower() in words for w in term.split()), (term, story.label)


def test_a_story_shows_its_current_members_after_every_kind_of_change(
    tmp_path: Path, make_article: MakeArticle,
) -> None:
    outlets = ["AP", "Reuters", "DW", "BBC"]
    flood = [make_article("River Danube floods the old town of Passau",
                          f"The river Danube flooded the old town of Passau, {outlet} reported. "
                          f"Rescuers evacuated residents of Passau in district {n}.",
                          source=outlet, id=f"f{n}", hours=n) for n, outlet in enumerate(outlets)]
    budget = make_article("Senate passes the budget bill after a late vote",
                          "The Senate passed the budget bill in a late vote.", source="NPR",
                          id="b1", hours=5)
    service = StoryService(make_settings(tmp_path / "one")).open()
    try:
        service.ingest(flood)  # growth
        story = service.assignments()["f0"]
        assert {service.assignments()[f"f{n}"] for n in range(4)} == {story}
        assert_presented_from_members(service, story)
        service.ingest([budget])
        # a change of content moves an article to another story
        service.ingest([make_article(budget.title, budget.text, source="BBC", id="f3",
                                     hours=6)])
        assert service.assignments()["f3"] == service.assignments()["b1"] != story
        assert_presented_from_members(service, story)
        assert_presented_from_members(service, service.assignments()["b1"])
        service.delete_article("f1")  # a deletion
        assert_presented_from_members(service, story)
        assert {a.id for a in service.get_story(story).articles} == {"f0", "f2"}
    finally:
        service.close()
    # a merge: every article starts a story, and maintenance merges two of them
    params = {"join_threshold": 0.99, "headline_threshold": 0.99, "merge_threshold": 0.5}
    merging = StoryService(make_settings(tmp_path / "two", cluster=params)).open()
    try:
        first, second = merging.ingest(flood[:2])
        assert first.new_story and second.new_story
        survivor = merging.assignments()["f0"]
        assert merging.assignments()["f1"] == survivor
        absorbed = ({first.story_id, second.story_id} - {survivor}).pop()
        assert merging.get_story(absorbed).merged_into == survivor
        assert_presented_from_members(merging, survivor)
    finally:
        merging.close()
