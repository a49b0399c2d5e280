"""The service on the PostgreSQL store: the same stories as on SQLite, one
writer per database enforced by the server, and no partial write when a
writer dies or loses its connection. A real server, started by the
``postgres`` fixture on loopback (the store contract suite runs there too)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cluster.articles.jsonl import read_labelled
from cluster.errors import StoreUnavailable
from cluster.service.facade import StoryService
from cluster.service.storyline_views import StorylineQuery
from cluster.service.view_builders import StoryQuery
from cluster.settings import Settings
from cluster.store.lock import StoreInUse
from cluster.store.postgres import PostgresStore
from cluster.store.sqlite import StoreNotReady
from tests.conftest import DEMO, ROOT, PostgresDatabases, make_settings
from tests.test_store_contract import article, vec


def pg_settings(tmp_path: Path, postgres: PostgresDatabases, **overrides: Any) -> Settings:
    return make_settings(tmp_path, store_url=postgres.url_for(tmp_path), **overrides)


def clustering_of(settings: Settings) -> tuple[dict[str, int], list[tuple[int, str, int]],
                                              list[tuple[int, int]]]:
    """(article -> story, (story, headline, size) of every story, (storyline, stories))."""
    service = StoryService(settings).open()
    try:
        with service.store.read() as reader:
            assignments = {k: int(v) for k, v in reader.assignments().items()}
        stories = service.list_stories(StoryQuery(status="all", limit=100)).items
        lines = service.list_storylines(StorylineQuery(status="all", limit=100)).items
        return (assignments,
                sorted((s.id, s.headline, s.article_count) for s in stories),
                sorted((line.id, line.story_count) for line in lines))
    finally:
        service.close()


def ingest_demo(settings: Settings) -> None:
    service = StoryService(settings).open()
    try:
        service.ingest([item.article for item in read_labelled(DEMO)])
    finally:
        service.close()


def test_the_service_on_postgresql_builds_the_same_stories_as_on_sqlite(
    tmp_path: Path, postgres: PostgresDatabases,
) -> None:
    on_sqlite = make_settings(tmp_path / "sqlite")
    on_postgres = pg_settings(tmp_path / "postgres", postgres)
    ingest_demo(on_sqlite)
    ingest_demo(on_postgres)
    expected = clustering_of(on_sqlite)
    assert len(expected[0]) == 46 and expected[2], "the demo has stories and storylines"
    assert clustering_of(on_postgres) == expected  # after a restart, from the store alone
    assert not (tmp_path / "postgres" / "var" / "store.sqlite3").exists()


def test_the_presentation_worker_process_reads_postgresql(
    tmp_path: Path, postgres: PostgresDatabases,
) -> None:
    settings = pg_settings(tmp_path, postgres, presentation_delay_s=0.05,
                           presentation_worker="process")
    service = StoryService(settings).open()
    try:
        results = service.ingest([item.article for item in read_labelled(DEMO)][:8])
        assert service.wait_for_presentation(timeout=60)
        assert service.presentation_worker is not None
        assert service.presentation_worker.pid is not None  # the worker did the work
        story = service.get_story(results[0].story_id).story
        assert story.label and story.summary
        with service.store.read() as reader:
            assert reader.dirty_story_count() == 0
    finally:
        service.close()


def test_a_second_writer_is_refused_naming_the_holder(
    tmp_path: Path, postgres: PostgresDatabases,
) -> None:
    url = postgres.url_for(tmp_path)
    first = PostgresStore(url)
    with pytest.raises(StoreInUse, match=rf"pid {os.getpid()}"):
        PostgresStore(url)
    reader = PostgresStore(url, read_only=True)  # readers take no lock
    first.close()
    PostgresStore(url).close()  # released on close
    reader.close()


HOLDER = """
import sys, time
import numpy as np
from cluster.articles.incoming import Article
from cluster.store.postgres import PostgresStore
store = PostgresStore(sys.argv[1])
with store.write() as writer:
    writer.insert_article(Article("kept", "t", "b", "Wire", None, None, "en"),
                          np.ones(8, dtype=np.float32), "h")
print("committed", flush=True)
with store.write() as writer:
    writer.insert_article(Article("torn", "t", "b", "Wire", None, None, "en"),
                          np.ones(8, dtype=np.float32), "h")
    print("writing", flush=True)
    time.sleep(600)
"""


def test_a_killed_writer_leaves_its_commits_no_partial_write_and_no_lock(
    tmp_path: Path, postgres: PostgresDatabases,
) -> None:
    url = postgres.url_for(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "committed"
        assert holder.stdout.readline().strip() == "writing"
        with pytest.raises(StoreInUse, match="newsclusters pid"):
            PostgresStore(url)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(30)
        if holder.stdout is not None:
            holder.stdout.close()
    # the server notices the closed connection, rolls back and drops the lock
    store = _open_when_free(url)
    try:
        with store.read() as reader:
            assert reader.article_by_id("kept") is not None
            assert reader.article_by_id("torn") is None
            assert reader.article_count() == 1 and reader.index_seq() == 1
    finally:
        store.close()


def _open_when_free(url: str, attempts: int = 100) -> PostgresStore:
    import time

    for _ in range(attempts):
        try:
            return PostgresStore(url)
        except StoreInUse:
            time.sleep(0.1)
    return PostgresStore(url)


def test_a_lost_connection_rolls_back_the_whole_write_and_the_next_write_reconnects(
    tmp_path: Path, postgres: PostgresDatabases,
) -> None:
    import psycopg

    url = postgres.url_for(tmp_path)
    store = PostgresStore(url)
    try:
        with store.write() as writer:
            writer.insert_article(article("a"), vec(1), "h")
        with pytest.raises(StoreUnavailable, match="cannot be reached"), \
                store.write() as writer:
            writer.insert_article(article("b"), vec(2), "h")
            story = writer.create_story()
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name LIKE 'newsclusters pid%%'")
            writer.insert_article(article("c"), vec(3), "h")
            writer.assign(writer.article_by_id("c").key, story, None, True)  # type: ignore[union-attr]
        with store.write() as writer:  # a new connection, the lock taken again
            writer.insert_article(article("d"), vec(4), "h")
        with pytest.raises(StoreInUse):
            PostgresStore(url)
        with store.read() as reader:
            assert sorted(a.id for a in reader.articles_by_keys(range(1, 20)).values()) \
                == ["a", "d"]
            assert reader.story_count(["active"]) == 0
            np.testing.assert_array_equal(reader.vectors([reader.article_by_id("d").key])[0],  # type: ignore[union-attr]
                                          vec(4))
    finally:
        store.close()


def test_a_reader_before_the_writer_migrated_is_told_so(
    tmp_path: Path, postgres: PostgresDatabases,
) -> None:
    url = postgres.url_for(tmp_path)
    with pytest.raises(StoreNotReady, match="the writer migrates it"):
        PostgresStore(url, read_only=True)
    PostgresStore(url).close()
    PostgresStore(url, read_only=True).close()


def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    from tests.conftest import free_port

    url = f"postgresql://someone:hunter2secret@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(StoreNotReady) as refused:
        PostgresStore(url)
    assert "cannot reach the store at postgresql://someone@127.0.0.1" in str(refused.value)
    assert "hunter2secret" not in str(refused.value)


def test_store_url_must_be_a_postgresql_url(tmp_path: Path) -> None:
    from cluster.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="store_url"):
        make_settings(tmp_path, store_url="mysql://x@y/z")
    assert make_settings(tmp_path).store_location == str(tmp_path / "var" / "store.sqlite3")


def test_a_server_restart_is_a_503_meanwhile_and_then_reads_and_writes_go_on(
    tmp_path: Path, postgres_installed: None,
) -> None:
    import shutil
    import tempfile

    from api import create_app
    from cluster.errors import StoreUnavailable
    from cluster.store.local_postgres import LocalPostgres

    folder = Path(tempfile.mkdtemp(prefix="nc-pg-restart-"))
    server = LocalPostgres(folder, durable=False).start()
    try:
        url = server.create_database("restart")
        settings = make_settings(tmp_path, store_url=url)
        service = StoryService(settings).open()
        try:
            service.ingest([article("a")])
            client = create_app(service=service).test_client()
            server.stop()
            with pytest.raises(StoreUnavailable):
                service.ingest([article("b")])
            answer = client.get("/api/v1/articles/a")
            assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
            assert answer.get_json()["title"] == "Store unavailable"
            server.start()
            service.ingest([article("c")])  # a new connection, the writer's lock again
            assert client.get("/api/v1/articles/a").status_code == 200
            assert service.article_count() == 2
            with pytest.raises(StoreInUse):
                PostgresStore(url)
        finally:
            service.close()
    finally:
        server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


def test_a_second_local_server_on_a_running_servers_folder_is_refused_naming_it(
    postgres_installed: None,
) -> None:
    """Two `scale-out --local` on one data folder: the second stops with the
    running server's pid, and the first goes on serving."""
    import shutil
    import tempfile

    import psycopg

    from cluster.store.local_postgres import LocalPostgres, PostgresUnavailable

    folder = Path(tempfile.mkdtemp(prefix="nc-pg-twice-"))
    server = LocalPostgres(folder, durable=False).start()
    try:
        with pytest.raises(PostgresUnavailable, match=r"already runs .*\(pid \d+\)"):
            LocalPostgres(folder, durable=False).start()
        with psycopg.connect(server.url) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


def test_without_postgresql_installed_the_local_server_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cluster.store.local_postgres as local

    monkeypatch.setattr(local.shutil, "which", lambda name: None)
    monkeypatch.setattr(local.glob, "glob", lambda pattern: [])
    with pytest.raises(local.PostgresUnavailable, match="apt-get install postgresql"):
        local.server_binaries()
