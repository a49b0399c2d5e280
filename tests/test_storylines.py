"""Storylines: the linking rule, their labels, how the service builds and
keeps them (a real SQLite file and FAISS index, hashing embedder), and the
API and pages that show them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from flask.testing import FlaskClient

from api import create_app
from cluster.articles.incoming import Article
from cluster.service.facade import StoryService
from cluster.settings import Settings
from cluster.storylines.labels import storyline_label
from cluster.storylines.linking import (
    SECONDS_PER_DAY,
    StoryPoint,
    admits,
    best_link,
    link_in_order,
    relink_due,
)
from cluster.types import StoryId, StorylineId
from tests.conftest import BASE_TIME, make_settings

STRIKE = "Lufthansa pilots union strike over pensions flights cancelled Frankfurt Munich"
QUAKE = "Peru earthquake Arequipa rescuers search rubble as death toll rises magnitude"


def point(story: int, direction: list[float], day: float = 0.0,
          last_day: float | None = None) -> StoryPoint:
    vector = np.asarray(direction, dtype=np.float32)
    return StoryPoint(StoryId(story), vector / np.linalg.norm(vector), day * SECONDS_PER_DAY,
                      (last_day if last_day is not None else day) * SECONDS_PER_DAY)


# -- the rule ----------------------------------------------------------------------------

def test_a_story_links_to_its_most_similar_earlier_story_within_the_window() -> None:
    story = point(5, [1.0, 0.2], day=10)
    earlier = [point(1, [1.0, 0.0], day=1), point(2, [1.0, 0.3], day=2),
               point(3, [0.0, 1.0], day=3)]
    found = best_link(story, earlier, 0.6, 90.0)
    assert found is not None and found[0] == 2 and found[1] > 0.99
    # a later story is never the match: it links to this one in its turn
    assert best_link(point(1, [1.0, 0.3], day=1), [point(9, [1.0, 0.3], day=5)],
                     0.6, 90.0) is None
    # same start: the lower id came first
    assert best_link(point(7, [1, 0], day=1), [point(6, [1, 0], day=1)], 0.6, 90.0) == (
        6, pytest.approx(1.0))
    assert best_link(story, [point(1, [1.0, 0.0], day=1)], 0.99, 90.0) is None
    # more than the window between one's end and the other's start
    assert best_link(point(5, [1, 0], day=100), [point(1, [1, 0], 1, last_day=9)],
                     0.6, 90.0) is None
    assert best_link(point(5, [1, 0], day=98), [point(1, [1, 0], 1, last_day=9)],
                     0.6, 90.0) is not None


def test_a_story_joins_a_storyline_only_if_close_to_its_stories_on_average() -> None:
    newcomer = point(9, [1.0, 1.0], day=20)
    close = [point(1, [1.0, 0.9]), point(2, [0.9, 1.0])]
    assert admits(newcomer, close, 0.6, 90.0)
    # one similar story does not carry the newcomer into a storyline about something else
    chained = [point(1, [1.0, 0.9]), point(2, [1.0, -1.0]), point(3, [1.0, -1.2])]
    assert not admits(newcomer, chained, 0.6, 90.0)
    # members outside the window do not count; none left: nothing against it
    far = [point(1, [1.0, 0.9], day=19), point(2, [1.0, -1.0], day=-200)]
    assert admits(newcomer, far, 0.6, 90.0) and admits(newcomer, [], 0.6, 90.0)


def test_linking_in_order_keeps_two_developments_apart() -> None:
    talks = [point(1, [1, 0.1, 0], day=0), point(2, [1, 0.2, 0], day=5),
             point(3, [1, 0, 0.1], day=30)]
    floods = [point(4, [0, 1, 0.1], day=2), point(5, [0.1, 1, 0], day=40)]
    lone = [point(6, [0, 0, 1], day=3)]
    groups = link_in_order(sorted(talks + floods + lone, key=lambda p: (p.first, p.id)),
                           0.6, 90.0)
    assert groups[1] == groups[2] == groups[3]
    assert groups[4] == groups[5] != groups[1]
    assert sum(1 for s in groups if groups[s] == groups[6]) == 1


def test_stories_are_linked_again_while_small_then_at_each_doubling() -> None:
    assert [n for n in range(1, 40) if relink_due(n - 1, n)] == [1, 2, 3, 4, 8, 16, 32]
    assert relink_due(0, 3) and relink_due(6, 9) and not relink_due(9, 12)
    assert not relink_due(5, 5)


def test_a_storyline_is_named_by_the_terms_its_stories_share() -> None:
    labels = ["COP31 · Antalya · adaptation finance", "COP31 · walkout · Antalya",
              "Turkey · COP31 · fossil fuels"]
    assert storyline_label(labels, [2, 1, 1]) == "COP31 · Antalya"
    # nothing shared by two stories: the largest story's label
    assert storyline_label(["a · b", "c · d"], [1, 3]) == "c · d"
    assert storyline_label([], []) == ""


# -- the service -------------------------------------------------------------------------

@pytest.fixture
def strike_and_quake(service: StoryService) -> dict[str, int]:
    """Three stories of one development (a strike, a second strike, an
    arbitration deal), days apart, and one unrelated story; story ids by name."""
    def article(article_id: str, title: str, text: str, days: float, source: str) -> Article:
        return Article(article_id, title, text, source, None,
                       BASE_TIME + timedelta(days=days), "en")

    batches = [
        [article("s1a", "Lufthansa pilots strike over pensions", STRIKE, 0, "DW"),
         article("s1b", "Lufthansa strike cancels flights in Frankfurt",
                 STRIKE + " travellers stranded", 0.1, "Reuters")],
        [article("q1", "Peru earthquake kills 12 in Arequipa", QUAKE, 1, "AP")],
        [article("s2a", "Lufthansa pilots union calls second strike over pensions",
                 STRIKE + " second walkout", 6, "DW"),
         article("s2b", "Second Lufthansa strike grounds flights",
                 STRIKE + " second walkout travellers", 6.1, "BBC")],
        [article("s3", "Lufthansa and pilots agree to arbitration over pensions",
                 STRIKE + " arbitration deal ends strike", 12, "Reuters")],
    ]
    ids: dict[str, int] = {}
    for batch in batches:
        for result in service.ingest(batch):
            ids[result.id] = result.story_id
    return {"first": ids["s1a"], "second": ids["s2a"], "deal": ids["s3"], "quake": ids["q1"]}


def test_stories_of_one_development_form_a_storyline_and_others_stay_out(
    service: StoryService, strike_and_quake: dict[str, int],
) -> None:
    stories = strike_and_quake
    assert len(set(stories.values())) == 4  # days apart: separate events
    page = service.list_storylines()
    assert len(page.items) == 1
    line = page.items[0]
    detail = service.get_storyline(line.id)
    assert [s.id for s in detail.stories] == [stories["first"], stories["second"],
                                               stories["deal"]]
    assert "Lufthansa" in line.label and line.story_count == 3 and line.article_count == 5
    assert line.latest is not None and line.latest.id == stories["deal"]
    assert [d.day for d in detail.timeline] == ["2026-11-01", "2026-11-07", "2026-11-13"]
    assert sum(d.articles for d in detail.timeline) == 5
    assert {s.source for s in line.top_sources} == {"DW", "Reuters", "BBC"}
    assert service.get_story(stories["quake"]).story.storyline_id is None
    assert service.get_story(stories["deal"]).story.storyline_id == line.id
    assert service.get_article("s2b").storyline_id == line.id
    assert service.get_article("q1").storyline_id is None


def test_related_coverage_carries_the_storyline_as_background(
    service: StoryService, strike_and_quake: dict[str, int],
) -> None:
    stories = strike_and_quake
    result = service.related("s3")
    assert result.storyline is not None and result.storyline.story_count == 3
    # what led up to it, newest first; never the query's own story
    assert [s.id for s in result.background] == [stories["second"], stories["first"]]
    first = service.related("s1a")
    assert first.storyline is not None and first.background == []
    assert service.related("q1").storyline is None
    guess = service.related_to_text("Lufthansa pilots strike again over pensions",
                                    STRIKE + " third walkout")
    assert guess.would_join is not None and guess.storyline is not None


def test_storylines_survive_a_restart_and_keep_their_ids_over_a_recluster(
    settings: Settings, service: StoryService, strike_and_quake: dict[str, int],
) -> None:
    before = {s.id: [m.id for m in service.get_storyline(s.id).stories]
              for s in service.list_storylines().items}
    result = service.rebuild(recluster=True)
    assert result["storylines_kept"] == result["storylines_before"] == 1
    after = {s.id: [m.id for m in service.get_storyline(s.id).stories]
             for s in service.list_storylines().items}
    assert after == before
    service.close()
    again = StoryService(settings).open()
    try:
        assert {s.id for s in again.list_storylines().items} == set(before)
    finally:
        again.close()


def test_a_merged_storyline_id_answers_with_the_one_that_took_its_stories(
    service: StoryService, strike_and_quake: dict[str, int],
) -> None:
    line = service.list_storylines().items[0].id
    with service._runtime.store.write() as writer:  # as a move of its last story leaves it
        old = writer.create_storyline(None)
        writer.retire_storyline(old, StorylineId(line))
    detail = service.get_storyline(old)
    assert detail.merged_into == line and detail.storyline.id == line


def test_a_story_folded_into_another_hands_over_its_storyline(
    service: StoryService, strike_and_quake: dict[str, int],
) -> None:
    stories = strike_and_quake
    maintenance = service._maintenance
    line = service.get_story(stories["first"]).story.storyline_id
    with service._runtime.store.write() as writer:
        # the quake story (no storyline) absorbs the deal story: it takes the storyline
        maintenance.storylines.story_merged(writer, StoryId(stories["quake"]),
                                            StoryId(stories["deal"]))
        lines = writer.story_storylines_of([stories["quake"], stories["deal"]])
    assert lines == {stories["quake"]: line, stories["deal"]: None}


def test_storylines_can_be_switched_off(tmp_path: Path,
                                        make_article: Callable[..., Article]) -> None:
    service = StoryService(make_settings(
        tmp_path, cluster={"storyline_threshold": 1.01})).open()
    try:
        service.ingest([make_article(STRIKE, id="a"),
                        make_article(STRIKE + " again", id="b", hours=24 * 6)])
        assert service.list_storylines().items == []
    finally:
        service.close()


# -- the API and the pages ---------------------------------------------------------------

def test_storyline_api_lists_shows_and_refuses_clearly(
    client: FlaskClient, service: StoryService, strike_and_quake: dict[str, int],
) -> None:
    listing = client.get("/api/v1/storylines").get_json()
    assert len(listing["items"]) == 1 and listing["next_cursor"] is None
    line = listing["items"][0]
    detail = client.get(f"/api/v1/storylines/{line['id']}").get_json()
    assert [s["id"] for s in detail["stories"]] == [
        strike_and_quake["first"], strike_and_quake["second"], strike_and_quake["deal"]]
    assert all(s["headline"] and s["first_seen"] for s in detail["stories"])
    story = client.get(f"/api/v1/stories/{strike_and_quake['deal']}").get_json()
    assert story["story"]["storyline_id"] == line["id"]
    assert client.get("/api/v1/articles/s3").get_json()["storyline_id"] == line["id"]
    related = client.get("/api/v1/articles/s3/related").get_json()
    assert related["storyline"]["id"] == line["id"]
    assert [s["id"] for s in related["background"]] == [strike_and_quake["second"],
                                                         strike_and_quake["first"]]
    assert client.get("/api/v1/storylines?status=dormant").get_json()["items"] == []
    assert len(client.get("/api/v1/storylines?status=all&order=last_updated&since="
                          "2026-11-10T00:00:00Z").get_json()["items"]) == 1
    for url, field in (("/api/v1/storylines?status=bogus", "status"),
                       ("/api/v1/storylines?limit=0", "limit"),
                       ("/api/v1/storylines?order=size", "order"),
                       ("/api/v1/storylines?since=yesterday", "since"),
                       ("/api/v1/storylines?cursor=%%%", "cursor")):
        answer = client.get(url)
        assert answer.status_code in (400, 422), url
        assert answer.content_type == "application/problem+json"
        assert field in answer.get_json()["detail"] or answer.get_json().get("field") == field
    for missing in ("/api/v1/storylines/999", "/api/v1/storylines/-1",
                    f"/api/v1/storylines/{2**70}"):
        answer = client.get(missing)
        assert answer.status_code == 404 and answer.content_type == "application/problem+json"


def test_storyline_listing_pages_without_repeats(service: StoryService) -> None:
    # five developments, each two stories (events) a week apart
    for week in range(2):
        for n in range(5):
            shared = " ".join(f"{word}{n}" for word in ("topic", "alpha", "beta", "gamma",
                                                        "delta", "epsilon", "zeta", "eta"))
            event = " ".join(f"{word}{n}x{week}" for word in ("theta", "iota", "kappa"))
            service.ingest([Article(f"d{n}w{week}", f"{shared} {event}", "", "Wire", None,
                                    BASE_TIME + timedelta(days=7 * week, hours=n), "en")])
    seen, cursor = [], None
    while True:
        page = service.list_storylines(_query(limit=2, cursor=cursor))
        seen += [item.id for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5


def _query(**fields: object) -> object:
    from cluster.service.storyline_views import StorylineQuery

    return StorylineQuery(**fields)  # type: ignore[arg-type]


def test_storyline_page_and_the_story_page_show_the_development(
    service: StoryService, strike_and_quake: dict[str, int],
) -> None:
    client = create_app(service=service).test_client()
    line = service.list_storylines().items[0]
    page = client.get(f"/storylines/{line.id}").get_data(as_text=True)
    headlines = [s.headline or "" for s in service.get_storyline(line.id).stories]
    assert [page.index(h) for h in headlines] == sorted(page.index(h) for h in headlines)
    assert line.label in page and "3 days with coverage" in page
    story = client.get(f"/stories/{strike_and_quake['second']}").get_data(as_text=True)
    assert f'href="/storylines/{line.id}"' in story and 'aria-current="true"' in story
    home = client.get("/").get_data(as_text=True)
    assert "Developing storylines" in home and f'href="/storylines/{line.id}"' in home
    assert client.get("/storylines/999").status_code == 404
