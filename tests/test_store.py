"""What is particular to the SQLite store: WAL, migrations, the in-memory
placement cache, integrity checks. What every store must do is in
``test_store_contract.py``."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from cluster.articles.incoming import Article
from cluster.store.schema import MIGRATIONS
from cluster.store.sqlite import SQLiteStore
from cluster.types import StoryId


def article(article_id: str, hours: int = 0) -> Article:
    return Article(article_id, f"title {article_id}", "body", "Wire", None,
                   datetime(2024, 1, 1, hours, tzinfo=UTC), "en")


def vec(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=8).astype(np.float32)


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "s.sqlite3")


def test_migrations_applied_and_wal_mode(store: SQLiteStore) -> None:
    assert store.schema_version == len(MIGRATIONS)
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_reopening_does_not_rerun_migrations(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "s.sqlite3")
    with first.write() as writer:
        writer.insert_article(article("a"), vec(1), "h")
    first.close()
    again = SQLiteStore(tmp_path / "s.sqlite3")
    with again.read() as reader:
        assert reader.article_count() == 1


def test_duplicate_article_id_is_refused(store: SQLiteStore) -> None:
    with pytest.raises(sqlite3.IntegrityError), store.write() as writer:
        writer.insert_article(article("a"), vec(1), "h")
        writer.insert_article(article("a"), vec(2), "h")


def _sql_placement(store: SQLiteStore, keys: list[int]) -> dict[int, tuple[StoryId, float | None]]:
    with store.read() as reader:
        return reader.placement(keys)


def _memory_placement(
    store: SQLiteStore, keys: list[int]
) -> dict[int, tuple[StoryId, float | None]]:
    with store.write() as writer:
        return writer.placement(keys)


def test_in_memory_placement_follows_every_change_and_rollback(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "p.sqlite3")
    with store.write() as writer:
        keys = [writer.insert_article(article(f"a{n}", hours=n), vec(n), "h") for n in range(6)]
        undated = writer.insert_article(
            Article("u", "undated", "", "Wire", None, None, "en"), vec(9), "h")
        keys.append(undated)
        one, two, three = writer.create_story(), writer.create_story(), writer.create_story()
        for key in keys[:3]:
            writer.assign(key, one, None, False)
        for key in keys[3:]:
            writer.assign(key, two, None, False)
    assert _memory_placement(store, keys) == _sql_placement(store, keys)
    with store.write() as writer:
        writer.unassign(keys[0])
        writer.move_assignments(two, one)
        writer.update_article(keys[1], article("a1", hours=20), vec(1), "h")
        writer.delete_article(keys[2])
        writer.rename_stories([(one, StoryId(three + 10))])
    memory = _memory_placement(store, keys)
    assert memory == _sql_placement(store, keys)
    assert keys[0] not in memory and keys[2] not in memory and memory[undated][1] is None
    # a rolled-back write leaves no trace in memory either
    with pytest.raises(RuntimeError), store.write() as writer:
        writer.assign(keys[0], three, None, True)
        assert writer.placement([keys[0]])[keys[0]][0] == three
        raise RuntimeError("fail the batch")
    assert _memory_placement(store, keys) == _sql_placement(store, keys)
    # and a store opened again starts from the tables
    store.close()
    again = SQLiteStore(tmp_path / "p.sqlite3")
    assert _memory_placement(again, keys) == _sql_placement(again, keys)
    with again.write() as writer:
        writer.clear_clustering()
        assert writer.placement(keys) == {}
    again.close()


def test_migration_moves_vectors_and_sketches_out_of_article_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:6], start=1):  # a store from before 7
        old.executescript(script)
        old.execute(f"PRAGMA user_version = {number}")
    old.execute(
        "INSERT INTO articles (id, title, text, source, url, published_at, lang, content_hash, "
        "embed_hash, vector, duplicate_of, ingested_at, minhash) "
        "VALUES ('a', 't', 'b', 'Wire', NULL, 5.0, 'en', 'c', 'e', ?, NULL, 1.0, ?)",
        (vec(3).tobytes(), np.arange(4, dtype=np.uint32).tobytes()))
    old.commit()
    old.close()
    with caplog.at_level("INFO", logger="cluster.store.sqlite"):
        store = SQLiteStore(path)
    assert store.schema_version == len(MIGRATIONS)
    assert "migrating to schema 7" in caplog.text  # it copies every vector: say so
    columns = {r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(articles)")}
    assert "vector" not in columns and "minhash" not in columns
    with store.read() as reader:
        stored = reader.article_by_id("a")
        assert stored is not None
        np.testing.assert_array_equal(reader.vectors([stored.key])[0], vec(3))
        assert reader.signatures_of([stored.key]) == [
            (stored.key, 5.0, np.arange(4, dtype=np.uint32).tobytes())]
    with store.write() as writer:
        writer.delete_article(stored.key)
    left = sqlite3.connect(path).execute("SELECT COUNT(*) FROM article_vectors").fetchone()[0]
    assert left == 0  # a deleted article's vector goes with it
    store.close()


def test_migration_narrows_centroid_sums_and_keeps_ids_and_references(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:7], start=1):  # a store from before 8
        old.executescript(script)
        old.execute(f"PRAGMA user_version = {number}")
    total = np.random.default_rng(5).normal(size=8)
    for story_id in (1, 2, 3):
        old.execute(
            "INSERT INTO stories (id, activity, article_count, source_count, centroid_sum, "
            "label, summary, hotness) VALUES (?, 4.0, 1, 1, ?, 'label', '[]', 2.5)",
            (story_id, (total * story_id).tobytes()))
    old.execute("DELETE FROM stories WHERE id = 3")  # the newest id was used once
    old.execute(
        "INSERT INTO articles (id, title, text, source, url, published_at, lang, content_hash, "
        "embed_hash, duplicate_of, ingested_at) "
        "VALUES ('a', 't', 'b', 'Wire', NULL, 5.0, 'en', 'c', 'e', NULL, 1.0)")
    old.execute("INSERT INTO article_vectors (key, vector) VALUES (1, ?)", (vec(3).tobytes(),))
    old.execute("INSERT INTO assignments VALUES (1, 2, 0.9, 0)")
    old.commit()
    old.close()

    store = SQLiteStore(path)
    assert store.schema_version == len(MIGRATIONS)
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT LENGTH(centroid_sum) FROM stories WHERE id = 2").fetchone() == (32,)
    indexes = {r[0] for r in raw.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'stories'")}
    assert {"stories_activity", "stories_hotness", "stories_dirty"} <= indexes
    with store.read() as reader:
        row = reader.story(StoryId(2))
        assert row is not None and row.label == "label" and row.hotness == 2.5
        assert row.centroid_sum.dtype == np.float64
        np.testing.assert_allclose(row.centroid_sum, total * 2, rtol=1e-6)
        stored = reader.article_by_id("a")
        assert stored is not None and stored.story_id == 2
    with store.write() as writer:
        assert writer.create_story() == 4  # a deleted story's id is never handed out again
    with pytest.raises(sqlite3.IntegrityError), store.write() as writer:
        writer.assign(stored.key, StoryId(99), 0.5, False)  # references are enforced again
    store.close()


def test_a_migration_that_would_orphan_rows_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "s.sqlite3"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO stories (id, activity, article_count, source_count, "
                    "centroid_sum) VALUES (1, 0, 0, 0, x'')")
    orphaning = "DELETE FROM stories; INSERT INTO assignments VALUES (1, 1, NULL, 1)"
    monkeypatch.setattr("cluster.store.sqlite.MIGRATIONS", (*MIGRATIONS, orphaning))
    with pytest.raises(sqlite3.IntegrityError, match="assignments"):
        SQLiteStore(path)
    monkeypatch.undo()
    reopened = SQLiteStore(path)  # rolled back whole: the story is still there
    assert reopened.schema_version == len(MIGRATIONS)
    with reopened.read() as reader:
        assert reader.story(StoryId(1)) is not None
    reopened.close()
