"""The web pages: Flask test-client checks of each page, and an end-to-end run
in a real headless browser (Debian's Chromium via Playwright)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.pages import timeline_bars
from cluster.articles.importer import import_articles, read_files
from cluster.articles.incoming import Article
from cluster.service.facade import StoryService
from cluster.service.views import DayCount
from tests.browser import PHONE, browser_page, missing_browser, served, tour
from tests.conftest import DEMO

HOSTILE = "<script>alert('x')</script> & <b>bold</b>"


@pytest.fixture
def demo(service: StoryService, client: FlaskClient) -> FlaskClient:
    import_articles(service, read_files([DEMO]))
    return client


def test_home_lists_stories_with_labels_summaries_and_timelines(demo: FlaskClient) -> None:
    page = demo.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert html.count('<article class="story">') >= 5
    assert 'class="label"' in html and 'class="summary"' in html
    assert "<svg class=\"timeline\"" in html and "outlet" in html
    assert 'href="/static/style.css"' in html and "http://" not in html.split("<main")[0]
    sheet = demo.get("/static/style.css")
    assert sheet.status_code == 200 and b"--accent" in sheet.data
    sheet.close()


def test_filters_search_and_pagination(demo: FlaskClient, service: StoryService) -> None:
    everything = demo.get("/").get_data(as_text=True).count('<article class="story">')
    wide = demo.get("/?min_sources=2").get_data(as_text=True).count('<article class="story">')
    assert 1 <= wide < everything
    assert demo.get("/?status=all").status_code == 200
    found = demo.get("/?q=pilots+strike+at+Lufthansa").get_data(as_text=True)
    assert "match" in found
    first = demo.get("/?status=all").get_data(as_text=True)
    assert 'rel="next"' in first  # 16+ stories, 20 per page: the demo has more
    assert demo.get("/?min_sources=abc").status_code == 422
    assert demo.get("/?status=sleeping").status_code == 422


def test_story_page_shows_summary_timeline_sources_history(
    demo: FlaskClient, service: StoryService
) -> None:
    story = service.list_stories().items[0]
    html = demo.get(f"/stories/{story.id}").get_data(as_text=True)
    for part in ("Summary", "Timeline", "Coverage by outlet", "History", "Related stories"):
        assert part in html
    assert "created" in html and "<cite>" in html
    assert demo.get("/stories/424242").status_code == 404


def test_related_page_by_text_and_by_article(demo: FlaskClient) -> None:
    assert "Find coverage" in demo.get("/related").get_data(as_text=True)
    html = demo.get("/related?title=Lufthansa+pilots+strike+over+pensions&submitted=1")
    assert html.status_code == 200 and "Lufthansa" in html.get_data(as_text=True)
    assert demo.get("/related?article_id=nk-1").status_code == 200
    assert demo.get("/related?article_id=missing&submitted=1").status_code == 404
    assert demo.get("/related?submitted=1").status_code == 422  # no headline
    posted = demo.post("/related", data={"title": "Lufthansa pilots strike",
                                         "text": "x " * 5000, "submitted": "1"})
    assert posted.status_code == 200 and "Lufthansa" in posted.get_data(as_text=True)


def test_hostile_text_is_escaped_everywhere(client: FlaskClient, app: Flask) -> None:
    body = {"id": "evil", "title": HOSTILE, "text": f"{HOSTILE} is what the page said.",
            "source": "<img src=x onerror=alert(1)>", "published_at": "2026-11-20T10:00:00Z",
            "url": "https://evil.example/a?x=\"><script>"}
    assert client.post("/api/v1/articles", json=body).status_code == 201
    story_id = client.get("/api/v1/articles/evil").get_json()["story_id"]
    for url in ("/", f"/stories/{story_id}", "/related?article_id=evil",
                f"/related?title={HOSTILE}&submitted=1"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;" in html or "&lt;img" in html, url


def test_timeline_bars_fill_gaps_and_scale() -> None:
    one_day = timeline_bars([DayCount("2026-11-01", 3, [])], 700, 10)
    assert len(one_day) == 1 and one_day[0].width <= 700 / 7  # a bar, not a block
    bars = timeline_bars([DayCount("2026-11-01", 4, []), DayCount("2026-11-03", 2, [])], 30, 10)
    assert [b.day for b in bars] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert [b.height for b in bars] == [10, 0, 5] and timeline_bars([], 30, 10) == []


def test_pages_in_a_real_browser(demo: FlaskClient, app: Flask, tmp_path: Path) -> None:
    reason = missing_browser()
    if reason is not None:
        pytest.skip(f"browser test skipped: {reason}")
    with served(app) as base:
        with browser_page() as page:
            seen = tour(base, page, tmp_path / "screenshots")
        with browser_page(*PHONE) as page:
            phone = tour(base, page, tmp_path / "screenshots", "-phone")
    assert seen["home"] == "Active stories" and seen["story"]
    assert "Related coverage" not in seen["related"] and seen["related"].strip()
    # at a phone's width every page fits: nothing makes the reader scroll sideways
    assert phone["home"] == seen["home"] and phone["story"] == seen["story"]
    assert seen["storyline"].strip() and phone["storyline"] == seen["storyline"]
    assert seen["overflow"] == "0" and phone["overflow"] == "0", (seen, phone)
    for name in ("home", "story", "storyline", "related", "home-phone", "story-phone",
                 "storyline-phone", "related-phone"):
        assert (tmp_path / "screenshots" / f"{name}.png").stat().st_size > 5_000


def test_pages_say_what_the_data_says(client: FlaskClient, service: StoryService) -> None:
    import re

    outlets = [f"Outlet {n}" for n in range(8)]
    results = service.ingest([
        service_article(f"Harbour wall collapses in storm at Port Ellen {n}",
                        "The harbour wall at Port Ellen collapsed in the storm overnight.",
                        outlet, f"hw-{n}", n) for n, outlet in enumerate(outlets)])
    story = results[0].story_id
    lone = service.ingest([service_article("Chess: Gukesh retains world title in tiebreak",
                                           "", "ChessBase", "chess-1", 30)])[0].story_id
    home = client.get("/").get_data(as_text=True)
    assert "8 outlets:" in home and "+3 more" in home
    assert re.search(r"1 article\b", home) and re.search(r"1 outlet\b", home)
    service.delete_article("hw-3")
    page = client.get(f"/stories/{story}").get_data(as_text=True)
    history = page[page.index('id="history-h"'):page.index('id="related-h"')]
    assert "Harbour wall collapses in storm at Port Ellen 0 (Outlet 0)" in history
    assert "hw-3 (since deleted)" in history
    assert not re.search(r"grew: hw-\d+</li>", history)  # titles, not bare ids
    times = re.findall(r'<time datetime="([^"]*)"', history)
    assert times == sorted(times)
    assert "None nearby." in page  # the chess story is not "related" to the harbour
    assert "2026-11-20 · busiest day: 7 articles" in page  # the timeline's axis
    lone_page = client.get(f"/stories/{lone}").get_data(as_text=True)
    assert re.search(r"1 article ·", lone_page) and re.search(r"1 outlet ·", lone_page)
    assert "No archived stories." in client.get("/?status=archived").get_data(as_text=True)
    assert "No stories match" in client.get("/?q=zzzz&status=archived").get_data(as_text=True)


def service_article(title: str, text: str, source: str, article_id: str,
                    hours: float) -> Article:
    when = datetime(2026, 11, 20, tzinfo=UTC) + timedelta(hours=hours)
    return Article(article_id, title, text, source, None, when, "en")


def test_the_related_page_places_text_by_date_as_ingest_and_the_api_do(
    client: FlaskClient, service: StoryService,
) -> None:
    import re

    talks = "U.S. and Russian envoys meet in Beijing on North Korea missile launches"
    service.ingest([
        service_article(f"{talks} {n}", "Envoys met in Beijing on North Korea's missiles.",
                        f"Outlet {n}", f"nk-{n}", n) for n in range(3)])
    service.ingest([service_article("Chess final decided in tiebreak", "", "ChessBase",
                                    "chess", 24 * 6)])  # the stream clock moves 6 days on
    queries = [{"title": f"{talks} again", "text": "Envoys met on North Korea's missiles."},
               {"title": "Envoys discuss missiles", "text": "A meeting in Beijing."}]
    outcomes: set[bool] = set()
    for query in queries:
        for published in ("", "2026-11-20T02:30"):
            page = client.post("/related", data={**query, "published": published,
                                                 "submitted": "1"}).get_data(as_text=True)
            when = published or "2026-11-26T00:00"
            assert f"As if published {when.replace('T', ' ')} UTC" in page
            api = client.post("/api/v1/related", json={
                **query, "published_at": when + ":00Z"}).get_json()
            joined = api["would_join"]["story_id"]
            outcomes.add(joined is None)
            if joined is None:  # the page says what the API says
                assert "it would start a new one" in page
            else:
                assert "would start a new one" not in page
                assert re.search(rf'<h2><a href="/stories/{joined}">', page)
    assert outcomes == {True, False}  # both verdicts were checked
    bad = client.post("/related", data={**queries[0], "published": "someday"})
    assert bad.status_code == 422 and "published" in bad.get_data(as_text=True)
