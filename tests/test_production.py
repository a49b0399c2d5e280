"""Production concerns through the test client: API keys, CORS, request ids,
metrics, date rules, backups."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from api import create_app
from cluster.service.facade import StoryService
from tests.conftest import make_settings
from tests.test_api import BANK, QUAKE, assert_problem

KEY = "s3cret-key-for-tests"
OTHER_KEY = "another-long-key-for-tests"


@pytest.fixture
def locked(tmp_path: Path) -> FlaskClient:
    keys = f"{OTHER_KEY}, {KEY}"
    service = StoryService(make_settings(tmp_path, api_keys=keys)).open()
    return create_app(service=service).test_client()


def test_writes_need_a_key_when_keys_are_configured(locked: FlaskClient) -> None:
    body = assert_problem(locked.post("/api/v1/articles", json=QUAKE), 401, "Authorization")
    assert KEY not in str(body)
    wrong = locked.post("/api/v1/articles", json=QUAKE, headers={"X-API-Key": KEY + "x"})
    assert wrong.status_code == 401 and KEY not in wrong.get_data(as_text=True)
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    ok = locked.post("/api/v1/articles", json=BANK, headers={"Authorization": f"Bearer {KEY}"})
    assert ok.status_code == 201
    assert locked.post("/api/v1/articles", json=QUAKE,
                       headers={"X-API-Key": OTHER_KEY}).status_code == 201
    assert_problem(locked.delete("/api/v1/articles/ecb-1"), 401)
    # reads, the read-only POST, health and docs stay open
    assert locked.get("/api/v1/stories").status_code == 200
    assert locked.post("/api/v1/related", json={"title": "rates"}).status_code == 200
    assert locked.get("/readyz").status_code == 200
    assert locked.get("/api/v1/openapi.json").status_code == 200


def test_reads_can_require_a_key(tmp_path: Path) -> None:
    service = StoryService(make_settings(tmp_path, api_keys=KEY, read_requires_key=True)).open()
    client = create_app(service=service).test_client()
    assert_problem(client.get("/api/v1/stories"), 401)
    assert client.get("/api/v1/stories", headers={"X-API-Key": KEY}).status_code == 200
    assert client.get("/healthz").status_code == 200
    basic = {"Authorization": "Basic " + base64.b64encode(f"reader:{KEY}".encode()).decode()}
    wrong = {"Authorization": "Basic " + base64.b64encode(b"reader:guess").decode()}
    for url in ("/", "/?q=storm", "/stories/1", "/related?title=storm", "/api/docs/"):
        refused = client.get(url)
        assert refused.status_code == 401, url
        assert refused.headers["WWW-Authenticate"].startswith("Basic"), url
        assert client.get(url, headers=wrong).status_code == 401, url
        assert client.get(url, headers=basic).status_code in (200, 404), url
    for url in ("/metrics", "/api/v1/openapi.json"):
        assert_problem(client.get(url), 401)
        assert client.get(url, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.get("/readyz").status_code == 200
    stylesheet = client.get("/static/style.css")
    assert stylesheet.status_code == 200
    stylesheet.close()


def test_metrics_can_require_a_key_on_their_own(tmp_path: Path) -> None:
    service = StoryService(make_settings(tmp_path, api_keys=KEY,
                                         metrics_requires_key=True)).open()
    client = create_app(service=service).test_client()
    assert_problem(client.get("/metrics"), 401)
    assert client.get("/metrics", headers={"X-API-Key": KEY}).status_code == 200
    assert client.get("/").status_code == 200 and client.get("/api/v1/stories").status_code == 200


def test_cors_is_off_unless_configured(client: FlaskClient, tmp_path: Path) -> None:
    response = client.get("/api/v1/stories", headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    service = StoryService(make_settings(tmp_path / "cors", cors_origins="https://app.example")).open()
    allowed = create_app(service=service).test_client()
    response = allowed.get("/api/v1/stories", headers={"Origin": "https://app.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    other = allowed.get("/api/v1/stories", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_request_ids_and_structured_logs(client: FlaskClient,
                                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="newsclusters.access"):
        response = client.get("/api/v1/stories", headers={"X-Request-ID": "req-42"})
        generated = client.get("/healthz", headers={"X-Request-ID": "bad id!"})
    assert response.headers["X-Request-ID"] == "req-42"
    assert len(generated.headers["X-Request-ID"]) == 32
    assert any('"request_id": "req-42"' in r.getMessage() and '"status": 200' in r.getMessage()
               for r in caplog.records)


def test_metrics_in_prometheus_format(client: FlaskClient) -> None:
    client.post("/api/v1/articles", json=[QUAKE, BANK])
    client.get("/api/v1/stories")
    text = client.get("/metrics").get_data(as_text=True)
    lines = text.splitlines()  # prometheus-client's exposition: labels sorted, float values
    assert ('newsclusters_requests_total{endpoint="/api/v1/stories",method="GET",status="200"} '
            '1.0') in lines
    assert 'newsclusters_ingested_articles_total{status="created"} 2.0' in lines
    assert "newsclusters_store_articles 2.0" in lines and "newsclusters_index_vectors 2.0" in lines
    assert 'newsclusters_stories{status="active"} 2.0' in lines
    assert ('newsclusters_request_seconds_bucket{endpoint="/api/v1/articles",le="+Inf",'
            'method="POST"} 1.0') in lines
    assert 'newsclusters_processes{role="all"} 1.0' in lines


@pytest.mark.parametrize(("published_at", "message"), [
    ("2999-01-01T00:00:00Z", "future"),
    ("1850-01-01T00:00:00Z", "1900"),
    ("2026-13-45T00:00:00Z", "ISO 8601"),
])
def test_implausible_dates_are_rejected(client: FlaskClient, published_at: str,
                                        message: str) -> None:
    body = assert_problem(client.post("/api/v1/articles", json={
        "title": "x", "published_at": published_at}), 422, "published_at")
    assert message in body["detail"]


@pytest.mark.parametrize("body", [
    '{"title": "x", "k": 1e400}',
    '{"title": "x", "k": 1000000000000000000000000000000}',
    '{"title": "x", "k": -1}',
    '{"title": "x", "k": 2.5}',
])
def test_huge_numbers_are_rejected(client: FlaskClient, body: str) -> None:
    response = client.post("/api/v1/related", data=body, content_type="application/json")
    assert_problem(response, 422, "k")


def test_control_characters_are_removed_not_stored(client: FlaskClient) -> None:
    response = client.post("/api/v1/articles", json={
        "id": "ctl", "title": "Bell\x07 and\x00 null", "text": "tab\tkept\x1b[31m"})
    assert response.status_code == 201
    stored = client.get("/api/v1/articles/ctl").get_json()
    assert stored["title"] == "Bell and null" and stored["text"] == "tab\tkept[31m"


def test_online_backup_and_restore(tmp_path: Path) -> None:
    from cluster.errors import ConfigurationError
    from cluster.store.backup import backup_store, restore_store

    live = StoryService(make_settings(tmp_path / "live")).open()
    client = create_app(service=live).test_client()
    client.post("/api/v1/articles", json=[QUAKE, BANK])
    copy = tmp_path / "backups" / "store.sqlite3"
    assert backup_store(live.settings.store_path, copy) == 2
    client.post("/api/v1/articles", json={"title": "after the backup"})  # service still writes
    before = {k: v for k, v in live.assignments().items() if k != "c-after"}
    live.close()

    fresh = make_settings(tmp_path / "restored")
    restore_store(copy, fresh.store_path, fresh.index_dir)
    restored = StoryService(fresh).open()
    assert restored.readiness().in_sync and restored.article_count() == 2
    assert all(restored.assignments()[k] == v for k, v in before.items()
               if k in restored.assignments())
    restored.close()
    with pytest.raises(ConfigurationError, match="--force"):
        restore_store(copy, fresh.store_path, fresh.index_dir)


def test_backup_and_restore_refuse_what_would_lose_or_not_restore_the_store(
    tmp_path: Path,
) -> None:
    """A backup written over the store, its journal or its lock would replace
    the file a running server writes to; a folder is not a file name; a file
    that is not a store backup never replaces the store."""
    import sqlite3

    from cluster.errors import ConfigurationError
    from cluster.store.backup import backup_store, restore_store

    settings = make_settings(tmp_path)
    with StoryService(settings) as service:
        create_app(service=service).test_client().post("/api/v1/articles", json=[QUAKE, BANK])
    store = settings.store_path
    untouched = store.read_bytes()
    for target in (store, Path(f"{store}-wal"), store.with_name(store.name + ".lock"),
                   store.parent / ".." / store.parent.name / store.name):
        with pytest.raises(ConfigurationError, match="is the store itself"):
            backup_store(store, target)
    with pytest.raises(ConfigurationError, match="is a folder"):
        backup_store(store, tmp_path)
    with pytest.raises(ConfigurationError, match="is the store itself"):
        restore_store(store, store, settings.index_dir, force=True)
    junk = tmp_path / "junk.sqlite3"
    junk.write_text('{"not": "a database"}')
    with pytest.raises(ConfigurationError, match="not a store backup"):
        restore_store(junk, store, settings.index_dir, force=True)
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")
    with pytest.raises(ConfigurationError, match=r"not a store backup .*articles"):
        restore_store(other, store, settings.index_dir, force=True)
    assert store.read_bytes() == untouched
    with StoryService(settings) as service:
        assert service.article_count() == 2
