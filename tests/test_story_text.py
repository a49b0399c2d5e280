"""What a reader reads of a story, on the real store and index (hashing
embedder): labels, summaries and headlines, in English and other scripts,
and that every one of them follows the story's current members."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from cluster.articles.incoming import Article
from cluster.service.facade import StoryService
from cluster.stories.labels import LabelSource, label_terms
from cluster.text.lexical import TermStats, article_terms
from tests.conftest import make_settings

MakeArticle = Callable[..., Article]


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
