"""Every endpoint and every error through the Flask test client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from cluster.service.facade import StoryService
from tests.conftest import make_settings

QUAKE = {"title": "Earthquake of magnitude 7 strikes southern Peru coast near Arequipa",
         "text": "Buildings shook in Arequipa.", "source": "AP",
         "url": "https://ap.example/peru-quake", "published_at": "2026-11-14T04:05:00Z",
         "lang": "en"}
QUAKE_2 = {**QUAKE, "title": QUAKE["title"] + " as rescuers search rubble", "source": "Reuters",
           "url": "https://reuters.example/peru", "published_at": "2026-11-14T08:00:00+00:00"}
BANK = {"id": "ecb-1", "title": "European Central Bank holds interest rates steady",
        "text": "Inflation eases.", "source": "FT", "published_at": "2026-11-14T09:00:00"}


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = response.get_json(force=True)
    for key in ("type", "title", "status", "detail", "instance"):
        assert key in body
    assert body["status"] == status
    if field is not None:
        assert body["field"] == field, body
        assert field in body["detail"]
    return body


@pytest.fixture
def seeded(client: FlaskClient) -> FlaskClient:
    response = client.post("/api/v1/articles", json={"articles": [QUAKE, QUAKE_2, BANK]})
    assert response.status_code == 201
    return client


def test_post_one_article(client: FlaskClient) -> None:
    response = client.post("/api/v1/articles", json=QUAKE)
    assert response.status_code == 201
    body = response.get_json()
    assert body["new_story"] is True and body["status"] == "created"
    assert body["id"].startswith("u-")  # derived from the url
    again = client.post("/api/v1/articles", json=QUAKE)
    assert again.status_code == 200 and again.get_json()["status"] == "unchanged"
    assert again.get_json()["story_id"] == body["story_id"]


def test_post_batch_reports_each_article(client: FlaskClient) -> None:
    response = client.post("/api/v1/articles", json=[QUAKE, QUAKE_2, BANK])
    assert response.status_code == 201
    results = response.get_json()["results"]
    assert [r["new_story"] for r in results] == [True, False, True]
    assert results[0]["story_id"] == results[1]["story_id"] != results[2]["story_id"]


def test_get_and_delete_article(seeded: FlaskClient) -> None:
    body = seeded.get("/api/v1/articles/ecb-1").get_json()
    assert body["title"] == BANK["title"] and body["published_at"] == "2026-11-14T09:00:00Z"
    assert seeded.delete("/api/v1/articles/ecb-1").status_code == 204
    assert_problem(seeded.get("/api/v1/articles/ecb-1"), 404, "id")
    assert_problem(seeded.delete("/api/v1/articles/ecb-1"), 404, "id")
    stories = seeded.get("/api/v1/stories").get_json()["items"]
    assert len(stories) == 1  # the bank story disappeared with its only article


def test_related_for_stored_article(seeded: FlaskClient) -> None:
    quake_id = seeded.get("/api/v1/stories").get_json()["items"][-1]
    del quake_id
    ids = [r["id"] for r in seeded.post("/api/v1/articles", json=[QUAKE]).get_json()["results"]]
    body = seeded.get(f"/api/v1/articles/{ids[0]}/related?k=2").get_json()
    assert body["query_id"] == ids[0]
    assert len(body["items"]) == 2
    first = body["items"][0]
    assert first["source"] == "Reuters" and first["same_story"] is True
    assert {"score", "story_id", "duplicates", "published_at"} <= set(first)


def test_related_for_new_text_writes_nothing(seeded: FlaskClient) -> None:
    body = seeded.post("/api/v1/related", json={
        "title": QUAKE["title"], "k": 2, "published_at": "2026-11-14T10:00:00Z"}).get_json()
    assert body["would_join"]["story_id"] is not None
    assert body["items"][0]["same_story"] is True
    assert seeded.get("/readyz").get_json()["articles"] == 3


def test_stories_list_and_detail(seeded: FlaskClient) -> None:
    page = seeded.get("/api/v1/stories?limit=1&order=last_updated").get_json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    newest = page["items"][0]
    assert newest["headline"] == BANK["title"] and "Central Bank" in newest["label"]
    assert newest["representative_article"]["source"] == "FT"
    rest = seeded.get(
        f"/api/v1/stories?limit=1&order=last_updated&cursor={page['next_cursor']}").get_json()
    quake = rest["items"][0]
    assert quake["article_count"] == 2 and quake["source_count"] == 2
    assert rest["next_cursor"] is None
    detail = seeded.get(f"/api/v1/stories/{quake['id']}?limit=1").get_json()
    assert detail["story"]["id"] == quake["id"] and len(detail["articles"]) == 1
    more = seeded.get(f"/api/v1/stories/{quake['id']}?limit=1&cursor={detail['next_cursor']}")
    assert len(more.get_json()["articles"]) == 1
    assert {s["source"] for s in detail["sources"]} == {"AP", "Reuters"}
    assert seeded.get("/api/v1/stories?status=all").status_code == 200


def test_health_and_readiness(seeded: FlaskClient) -> None:
    assert seeded.get("/healthz").get_json() == {"status": "ok"}
    ready = seeded.get("/readyz").get_json()
    assert ready["in_sync"] is True and ready["articles"] == ready["indexed"] == 3


def test_readiness_fails_when_index_out_of_sync(seeded: FlaskClient, app: Flask) -> None:
    service: StoryService = app.extensions["story_service"]
    service.index.remove(__import__("numpy").array([1], dtype="int64"))
    assert_problem(seeded.get("/readyz"), 503)


def test_openapi_document_and_docs_page(client: FlaskClient, app: Flask) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    # every JSON route is documented; the HTML pages and /metrics (text) are not API
    for rule in app.url_map.iter_rules():
        skipped = ("static", "swagger_ui", "pages.", "metrics.")
        if rule.endpoint.startswith(skipped) or "openapi" in rule.endpoint:
            continue
        path = rule.rule.replace("<path:article_id>", "{article_id}").replace(
            "<int(signed=True):story_id>", "{story_id}").replace(
            "<int(signed=True):storyline_id>", "{storyline_id}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, (path, method)
    page = client.get("/api/docs/")
    assert page.status_code == 200 and b"swagger" in page.data.lower()
    assert b"cdn" not in page.data.lower()


# -- errors: every one is problem+json naming the field; nothing is written ---------

@pytest.mark.parametrize(("body", "status", "field"), [
    ({"text": "   "}, 422, "title"),
    ({"title": ""}, 422, "title"),
    ({"title": "   "}, 422, "title"),
    ({"title": ["a"]}, 422, "title"),
    ({"title": "x", "text": 5}, 422, "text"),
    ({"title": "x", "published_at": "not a date"}, 422, "published_at"),
    ({"title": "x", "published_at": 12}, 422, "published_at"),
    ({"title": "x", "url": "javascript:alert(1)"}, 422, "url"),
    ({"title": "x", "id": "../../etc/passwd"}, 422, "id"),
    ({"title": "x", "unknown": 1}, 422, "unknown"),
    ({"articles": [QUAKE, {"title": ""}]}, 422, "articles[1].title"),
    ({"articles": []}, 422, "articles"),
    ({"articles": "nope"}, 422, "articles"),
    ({"articles": [{**BANK}, {**BANK}]}, 422, "articles[1].id"),
    ([QUAKE, 5], 422, "articles[1]"),
    ("just a string", 422, "body"),
])
def test_invalid_articles_are_rejected(client: FlaskClient, body: Any, status: int,
                                       field: str) -> None:
    assert_problem(client.post("/api/v1/articles", json=body), status, field)
    assert client.get("/readyz").get_json()["articles"] == 0


@pytest.mark.parametrize(("data", "content_type", "status", "field"), [
    ("{bad json", "application/json", 400, "body"),
    ("", "application/json", 400, "body"),
    ('{"title": NaN}', "application/json", 400, "body"),
    (b'{"title": "\xff\xfe"}', "application/json", 400, "body"),
    ("[" * 200 + "]" * 200, "application/json", 400, "body"),
    ("title=x", "application/x-www-form-urlencoded", 415, "body"),
])
def test_malformed_bodies(client: FlaskClient, data: Any, content_type: str, status: int,
                          field: str) -> None:
    response = client.post("/api/v1/articles", data=data, content_type=content_type)
    assert_problem(response, status, field)


def test_oversize_body_and_batch(tmp_path: Any) -> None:
    service = StoryService(make_settings(tmp_path, max_body_bytes=2048, max_batch=2)).open()
    client = create_app(service=service).test_client()
    huge = {"title": "x", "text": "y" * 5000}
    assert_problem(client.post("/api/v1/articles", json=huge), 413, "body")
    batch = [{"title": f"t{i}"} for i in range(3)]
    assert_problem(client.post("/api/v1/articles", json=batch), 413, "articles")
    assert service.article_count() == 0


def test_overlong_title(client: FlaskClient) -> None:
    assert_problem(client.post("/api/v1/articles", json={"title": "x" * 1001}), 422, "title")


def test_text_limits_come_from_the_settings_for_every_endpoint(tmp_path: Any) -> None:
    service = StoryService(make_settings(tmp_path, max_title_chars=40,
                                         max_text_chars=100)).open()
    client = create_app(service=service).test_client()
    long_title, long_text = {"title": "x" * 41}, {"title": "t", "text": "y" * 101}
    for url in ("/api/v1/articles", "/api/v1/related"):
        assert_problem(client.post(url, json=long_title), 422, "title")
        assert_problem(client.post(url, json=long_text), 422, "text")
    assert client.post("/api/v1/related", json={"title": "x" * 40}).status_code == 200
    service.close()


@pytest.mark.parametrize(("url", "status", "field"), [
    ("/api/v1/articles/missing", 404, "id"),
    ("/api/v1/articles/missing/related", 404, "id"),
    ("/api/v1/articles/bad%20id", 422, "id"),
    ("/api/v1/articles/ecb-1/related?k=0", 422, "k"),
    ("/api/v1/articles/ecb-1/related?k=abc", 422, "k"),
    ("/api/v1/articles/ecb-1/related?k=100000", 422, "k"),
    ("/api/v1/stories/9999", 404, "id"),
    ("/api/v1/stories?status=sleepy", 422, "status"),
    ("/api/v1/stories?limit=0", 422, "limit"),
    ("/api/v1/stories?cursor=%%%", 400, "cursor"),
    ("/api/v1/stories/1?limit=9999", 422, "limit"),
])
def test_bad_reads(seeded: FlaskClient, url: str, status: int, field: str) -> None:
    assert_problem(seeded.get(url), status, field)


@pytest.mark.parametrize(("body", "field"), [
    ({"text": "x"}, "title"),
    ({"title": ""}, "title"),
    ({"title": " "}, "title"),
    ({"title": "x", "k": 0}, "k"),
    ({"title": "x", "k": 10_000}, "k"),
    ({"title": "x", "k": "ten"}, "k"),
    ({"title": "x", "extra": True}, "extra"),
    ({"title": "x", "published_at": "soon"}, "published_at"),
])
def test_bad_related_queries(client: FlaskClient, body: Any, field: str) -> None:
    assert_problem(client.post("/api/v1/related", json=body), 422, field)


def test_unknown_routes_and_methods_are_problems(client: FlaskClient) -> None:
    assert_problem(client.get("/api/v1/nothing"), 404)
    assert_problem(client.put("/api/v1/articles"), 405)
    assert_problem(client.get("/api/v1/stories/abc"), 404)


def test_internal_errors_are_problems_without_details(
    client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    service: StoryService = app.extensions["story_service"]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "list_stories", broken)
    body = assert_problem(client.get("/api/v1/stories"), 500)
    assert "secret" not in body["detail"]


def test_hostile_text_is_stored_as_data(client: FlaskClient) -> None:
    hostile = {"id": "h1", "title": "<script>alert(1)</script>'; DROP TABLE articles;--",
               "text": "\u202e evil", "source": "<b>x</b>"}
    assert client.post("/api/v1/articles", json=hostile).status_code == 201
    body = client.get("/api/v1/articles/h1").get_json()
    assert body["title"] == hostile["title"] and body["source"] == "<b>x</b>"
    raw = client.get("/api/v1/articles/h1").get_data(as_text=True)
    assert "<script>" not in raw  # JSON-escaped, never raw HTML
    assert client.get("/readyz").get_json()["articles"] == 1


def test_story_endpoints_give_lifecycle_presentation_and_history(seeded: FlaskClient) -> None:
    hot = seeded.get("/api/v1/stories").get_json()["items"]
    assert hot[0]["article_count"] == 2  # two outlets, newest growth: hottest
    quake = hot[0]
    assert quake["headline"] and quake["label"] and quake["summary"]
    assert {"top_sources", "hotness", "first_seen", "last_updated", "status"} <= set(quake)
    detail = seeded.get(f"/api/v1/stories/{quake['id']}").get_json()
    assert detail["timeline"] == [{"day": "2026-11-14", "articles": 2, "sources": [
        {"source": "AP", "articles": 1}, {"source": "Reuters", "articles": 1}]}]
    events = seeded.get(f"/api/v1/stories/{quake['id']}/events").get_json()
    assert [e["kind"] for e in events["events"]] == ["created", "grew"]
    found = seeded.get("/api/v1/stories?q=interest+rates+central+bank").get_json()["items"]
    assert found[0]["headline"] == BANK["title"] and found[0]["match"] > 0
    since = seeded.get("/api/v1/stories?since=2026-11-14T08:30:00Z&order=last_updated")
    assert [s["headline"] for s in since.get_json()["items"]] == [BANK["title"]]
    wide = seeded.get("/api/v1/stories?min_sources=2").get_json()["items"]
    assert [s["id"] for s in wide] == [quake["id"]]
    related = seeded.get(
        "/api/v1/articles/ecb-1/related?k=5&per_source=0&exclude_sources=AP,reuters")
    assert related.status_code == 200 and related.get_json()["items"] == []


@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/stories?order=random", "order"),
    ("/api/v1/stories?min_sources=0", "min_sources"),
    ("/api/v1/stories?since=yesterday", "since"),
    ("/api/v1/stories?q=", "q"),
    ("/api/v1/stories/1/events?limit=0", "limit"),
    ("/api/v1/articles/ecb-1/related?per_source=-1", "per_source"),
    ("/api/v1/articles/ecb-1/related?min_score=2", "min_score"),
    ("/api/v1/articles/ecb-1/related?min_score=nan", "min_score"),
    ("/api/v1/articles/ecb-1/related?until=not-a-date", "until"),
    ("/api/v1/articles/ecb-1/related?since=2026-11-15&until=2026-11-14", "since"),
])
def test_story_and_related_parameters_are_checked(
    seeded: FlaskClient, url: str, field: str
) -> None:
    assert_problem(seeded.get(url), 422, field)


def test_unknown_story_events_are_404(seeded: FlaskClient) -> None:
    assert_problem(seeded.get("/api/v1/stories/424242/events"), 404)


def test_related_post_takes_filters(seeded: FlaskClient) -> None:
    body = seeded.post("/api/v1/related", json={
        "title": QUAKE["title"], "k": 5, "per_source": 0, "exclude_sources": ["AP"],
        "since": "2026-11-14T00:00:00Z"}).get_json()
    assert body["items"] and all(item["source"] != "AP" for item in body["items"])
    assert_problem(seeded.post("/api/v1/related", json={
        "title": "x", "per_source": -1}), 422, "per_source")


def _forged(value: str) -> str:
    import base64

    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


@pytest.mark.parametrize("forged", [
    _forged("[1e400, 1]"), _forged("[1, 1e400]"), _forged("[1, " + "9" * 400 + "]"),
    _forged("[" * 5000 + "]" * 5000), _forged('["a", 1]'), _forged("[1, 2, 3]"), "%%%",
    _forged("[NaN, 1]"), _forged("[true, 1]"),
])
def test_a_cursor_the_service_never_issued_is_a_400(seeded: FlaskClient, forged: str) -> None:
    story = seeded.get("/api/v1/stories").get_json()["items"][0]["id"]
    for url in ("/api/v1/stories", f"/api/v1/stories/{story}",
                f"/api/v1/stories/{story}/events"):
        assert_problem(seeded.get(f"{url}?cursor={forged}"), 400, "cursor")
    page = seeded.get(f"/?cursor={forged}")
    assert page.status_code == 400 and "cursor" in page.get_data(as_text=True)


@pytest.mark.parametrize("field", ["title", "text", "source"])
def test_a_lone_surrogate_is_refused_naming_the_field(client: FlaskClient, field: str) -> None:
    article = {"title": "Harbour wall collapses", "text": "Storm damage.", "source": "Wire"}
    body = json.dumps({**article, field: "broken \ud800 text"})  # json.dumps keeps \ud800
    response = client.post("/api/v1/articles", data=body, content_type="application/json")
    assert_problem(response, 422, field)
    if field != "source":  # /related takes no source
        query = json.dumps({"title": article["title"], "text": article["text"],
                            field: "x \udfff"})
        related = client.post("/api/v1/related", data=query, content_type="application/json")
        assert_problem(related, 422, field)
    assert client.get("/readyz").get_json()["articles"] == 0


def test_a_chunked_body_over_the_limit_is_a_413_not_a_truncated_accept(tmp_path: Any) -> None:
    import io

    service = StoryService(make_settings(tmp_path, max_body_bytes=2048)).open()
    client = create_app(service=service).test_client()
    body = json.dumps({"title": "Harbour wall collapses", "text": "x" * 1900}).encode()
    padded = body + b" " * 4000  # valid JSON once cut at the limit, if it were cut
    response = client.post(
        "/api/v1/articles", input_stream=io.BytesIO(padded), content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True})
    assert_problem(response, 413, "body")
    assert service.article_count() == 0
    service.close()


@pytest.mark.parametrize("content_type", [None, "text/plain", "multipart/form-data"])
def test_a_post_not_marked_json_is_a_415(client: FlaskClient, content_type: str | None) -> None:
    body = json.dumps({"title": "Harbour wall collapses"})
    headers = {} if content_type is None else {"Content-Type": content_type}
    for url in ("/api/v1/articles", "/api/v1/related"):
        assert_problem(client.post(url, data=body, headers=headers), 415, "body")


def test_every_response_forbids_sniffing_and_framing_with_a_fitting_policy(
    client: FlaskClient,
) -> None:
    for url, needle in (("/", "style-src 'self'"), ("/api/v1/stories", "default-src 'none'"),
                        ("/api/v1/missing", "default-src 'none'"), ("/healthz", "'none'"),
                        ("/api/docs/", "script-src 'self'")):
        response = client.get(url, follow_redirects=True)
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        assert response.headers["X-Frame-Options"] == "DENY", url
        policy = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and needle in policy, url


def test_no_nan_or_infinity_reaches_an_answer(client: FlaskClient, service: StoryService) -> None:
    import numpy as np

    for n, title in enumerate(["Harbour wall collapses in storm", "Storm floods harbour quay",
                               "Harbour storm damage assessed"]):
        client.post("/api/v1/articles", json={"id": f"h{n}", "title": title, "source": f"S{n}"})
    with service.store.read() as reader:
        damaged = reader.article_by_id("h1")
        assert damaged is not None
    # as a damaged vector in memory would score: not a number
    key = np.array([damaged.key], dtype=np.int64)
    service.index.remove(key)
    service.index.add(key, np.full((1, service.index.dimension), np.nan, dtype=np.float32))

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in a JSON answer")

    for response in (client.get("/api/v1/articles/h0/related"),
                     client.post("/api/v1/related", json={"title": "Harbour storm"})):
        assert response.status_code == 200
        json.loads(response.get_data(as_text=True), parse_constant=refuse)


def test_an_article_without_a_title_is_accepted_when_it_has_text(
    client: FlaskClient, service: StoryService,
) -> None:
    text = ("Flash floods closed schools across the Valencia region on Tuesday as rivers "
            "burst their banks after record rainfall in the hills above the coastal towns. "
            "Officials said the closures would last two days.")
    created = client.post("/api/v1/articles", json={"id": "untitled", "title": "",
                                                     "text": text, "source": "Wire"})
    assert created.status_code == 201, created.get_data(as_text=True)
    article = client.get("/api/v1/articles/untitled").get_json()
    assert article["title_derived"] is True
    assert article["title"].startswith("Flash floods closed schools across the Valencia")
    assert len(article["title"]) <= 121 and article["title"].endswith("…")
    story = client.get(f"/api/v1/stories/{article['story_id']}").get_json()
    assert story["story"]["headline"] == article["title"]
    assert story["articles"][0]["title_derived"] is True
    titled = client.post("/api/v1/articles", json={"title": "Schools reopen", "text": "Yes."})
    assert titled.status_code == 201
    assert_problem(client.post("/api/v1/articles", json={"title": "", "text": "  "}), 422,
                   "title")
    assert_problem(client.post("/api/v1/related", json={"title": "", "text": text}), 422,
                   "title")
