"""The evaluation harness: runs on any labelled file (dated or not, with or
without body text) through the production ingest path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from cluster.articles.importer import batches_of, import_articles, read_files
from cluster.articles.incoming import Article
from cluster.articles.jsonl import LabelledArticle
from cluster.embedding.cache import CachingEmbedder
from cluster.embedding.models import HashingEmbedder, normalise_rows
from cluster.evaluation.baselines import bertopic, bertopic_available, centroid_single_pass
from cluster.evaluation.replay import CLUSTERER, evaluate_items, format_table, labelled_items
from cluster.service.facade import StoryService
from tests.conftest import DEMO, ROOT, make_settings


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_undated_headline_only_file(tmp_path: Path) -> None:
    rows = [{"id": f"x{i}", "title": t, "text": "", "date": "", "source": "s", "cluster": c}
            for i, (t, c) in enumerate([
                ("volcano erupts in iceland lava flows", "v"),
                ("iceland volcano lava flows erupts again", "v"),
                ("senate passes budget bill vote", "b"),
                ("budget bill passes senate after vote", "b")])]
    items = labelled_items(write_jsonl(tmp_path / "tiny.jsonl", rows))
    settings = make_settings(tmp_path)
    result = evaluate_items("tiny", items, settings, HashingEmbedder(), with_bertopic=False)
    ours = result.result(CLUSTERER)
    assert ours is not None and ours.scores.gold_clusters == 2
    assert 0.0 < ours.scores.bcubed_f1 <= 1.0
    assert result.margin is not None
    assert "margin over best other" in format_table([result])


def test_replay_order_is_time_then_id(tmp_path: Path) -> None:
    rows = [{"id": "b", "title": "x", "date": "2024-01-01T00:00:00Z", "cluster": "1"},
            {"id": "a", "title": "y", "date": "2024-01-01T00:00:00Z", "cluster": "1"},
            {"id": "c", "title": "z", "date": "2023-12-31T00:00:00Z", "cluster": "2"},
            {"id": "d", "title": "w", "date": "", "cluster": "3"}]
    items = labelled_items(write_jsonl(tmp_path / "order.jsonl", rows))
    assert [i.article.id for i in items] == ["c", "a", "b", "d"]


def test_centroid_baseline_respects_tau_and_window() -> None:
    vectors = normalise_rows(np.array([[1, 0], [1, 0.1], [0, 1], [1, 0]], dtype=np.float32))
    day = 86400.0
    assert centroid_single_pass(vectors, [0, 1, 2, 3], tau=0.9) == [0, 0, 1, 0]
    # the fourth article comes three days later: the first story is out of the window
    assert centroid_single_pass(vectors, [0, 1, 2, 3 * day], tau=0.9) == [0, 0, 1, 2]


@pytest.mark.skipif(not bertopic_available(), reason="the [eval] extra (BERTopic) is not installed")
def test_bertopic_baseline_labels_every_item() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    vectors = normalise_rows(np.repeat(centres, 10, axis=0) + 0.05 * rng.normal(size=(30, 16)))
    labels = bertopic([f"doc {i}" for i in range(30)], vectors)
    assert len(labels) == 30


def test_embedding_cache_returns_identical_vectors_without_recomputing(tmp_path: Path) -> None:
    cache = CachingEmbedder(HashingEmbedder(), tmp_path / "cache.sqlite3")
    first = cache.embed(["alpha beta", "gamma"])
    second = cache.embed(["gamma", "alpha beta"])
    np.testing.assert_array_equal(first[::-1], second)
    assert cache.misses == 2 and cache.hits == 2


def test_evaluate_script_json(tmp_path: Path) -> None:
    env = {**os.environ, "NEWSCLUSTERS_EMBEDDER": "hashing"}
    result = subprocess.run(
        [sys.executable, "scripts/evaluate.py", str(DEMO), "--json", "--no-bertopic",
         "--cache-dir", str(tmp_path), "--set", "join_threshold=0.3"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["settings"]["join_threshold"] == 0.3
    methods = [m["method"] for m in report["files"][0]["methods"]]
    assert methods[0] == "clusterer" and methods[1].startswith("centroid baseline")
    bad = subprocess.run(
        [sys.executable, "scripts/evaluate.py", str(DEMO), "--set", "join_threshold=7"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode == 2 and "join_threshold" in bad.stderr


def test_prefetching_import_gives_the_stories_of_a_sequential_one(tmp_path: Path) -> None:
    items = read_files([DEMO])
    # the same id twice: the later line must update the earlier one in both modes
    repeat = items[3]
    later = LabelledArticle(
        Article(id=repeat.article.id, title=repeat.article.title + " (updated)",
                text=repeat.article.text, source=repeat.article.source, url=None,
                published_at=repeat.article.published_at, lang="en"), repeat.cluster)
    items = [*items, later]
    assignments = []
    for prefetch in (False, True):
        settings = make_settings(tmp_path / str(prefetch))
        service = StoryService(settings, HashingEmbedder()).open()
        report = import_articles(service, items, batch_size=5, prefetch=prefetch)
        assert report.updated == 1 and report.created == len(items) - 1
        assignments.append(service.assignments())
        assert service.get_article(repeat.article.id).title.endswith("(updated)")
        service.close()
    assert assignments[0] == assignments[1]


def test_batches_end_before_a_repeated_id() -> None:
    items = read_files([DEMO])[:6]
    again = items[1]
    batches = batches_of([*items[:3], again, *items[3:]], batch_size=4)
    assert [len(b) for b in batches] == [3, 4]
    assert batches[1][0].id == again.article.id


def test_evaluate_reports_refused_rows_and_scores_the_rest(tmp_path: Path) -> None:
    good = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()[:12]]
    rows = [json.dumps(dict(row, cluster=f"g{n % 3}")) for n, row in enumerate(good)]
    rows.insert(3, json.dumps({"id": "no-title", "title": "", "date": "2026-11-20T00:00:00Z",
                               "cluster": "g0"}))
    rows.insert(7, "{not json")
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    env = {**os.environ, "NEWSCLUSTERS_EMBEDDER": "hashing"}
    result = subprocess.run(
        [sys.executable, "scripts/evaluate.py", str(path), "--json", "--no-bertopic",
         "--cache-dir", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "refused mixed.jsonl:4.title: " in result.stderr
    assert "refused mixed.jsonl:8: not valid JSON" in result.stderr
    report = json.loads(result.stdout)["files"][0]
    assert report["refused"] == 2 and report["articles"] == 12


def test_files_merge_into_one_stream_with_a_common_start_and_apart_stories(
    tmp_path: Path,
) -> None:
    from cluster.evaluation.stream import merged_stream

    first = write_jsonl(tmp_path / "a.jsonl", [
        {"id": "x", "title": "quake hits coast", "date": "2024-01-01T00:00:00Z", "cluster": "1"},
        {"id": "y", "title": "quake aftershock", "date": "2024-01-02T00:00:00Z", "cluster": "1"}])
    second = write_jsonl(tmp_path / "b.jsonl", [
        {"id": "x", "title": "bank holds rates", "date": "2025-06-10T12:00:00Z", "cluster": "1"},
        {"id": "z", "title": "no date here", "date": "", "cluster": "2"}])
    stream, groups = merged_stream({"a": labelled_items(first), "b": labelled_items(second)})
    ids = [item.article.id for item in stream]
    assert len(set(ids)) == 4 and groups == ["a", "b", "a", "b"]
    # b's first article now starts with a's; the undated one stays last
    assert stream[0].article.published_at == stream[1].article.published_at
    assert stream[3].article.published_at is None
    assert len({item.cluster for item in stream}) == 3  # "1" of a and "1" of b stay apart
    env = {**os.environ, "NEWSCLUSTERS_EMBEDDER": "hashing"}
    result = subprocess.run(
        [sys.executable, "scripts/evaluate.py", str(first), str(second), "--stream",
         "--no-bertopic", "--cache-dir", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "stream of 2 files" in result.stdout and "mean clusterer BCubed F1 over 2 files" \
        in result.stdout


def test_variants_cut_dates_to_the_day_and_shuffle_the_order() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from cluster.articles.incoming import Article
    from cluster.articles.jsonl import LabelledArticle
    from cluster.evaluation.variants import day_only, shuffled

    west = timezone(timedelta(hours=-7))
    items = [LabelledArticle(Article(f"a{n}", "t", "", "s", None,
                                     datetime(2021, 4, 22, 20, n, tzinfo=west), "en"), "g")
             for n in range(5)] + [LabelledArticle(Article("u", "t", "", "s", None, None, "en"),
                                                    "g")]
    cut = day_only(items)
    assert [i.article.id for i in cut] == [i.article.id for i in items]  # arrival order kept
    # 20:0n at UTC-7 is 03:0n UTC the next day: that UTC day, at midnight
    assert {i.article.published_at for i in cut[:5]} == {datetime(2021, 4, 23, tzinfo=UTC)}
    assert cut[5].article.published_at is None
    again = shuffled(items, 3)
    assert sorted(i.article.id for i in again) == sorted(i.article.id for i in items)
    assert [i.article.id for i in again] == [i.article.id for i in shuffled(items, 3)]
    assert [i.article.id for i in again] != [i.article.id for i in items]


def test_spread_moves_each_dated_article_later_by_its_own_draw() -> None:
    from datetime import UTC, datetime, timedelta

    from cluster.articles.incoming import Article
    from cluster.articles.jsonl import LabelledArticle
    from cluster.evaluation.variants import spread

    noon = datetime(2021, 4, 22, 12, tzinfo=UTC)
    items = [LabelledArticle(Article(f"a{n}", "t", "", "s", None, noon, "en"), "g")
             for n in range(20)] + [LabelledArticle(Article("u", "t", "", "s", None, None,
                                                            "en"), "g")]
    moved = spread(items, 36.0)
    times = {i.article.id: i.article.published_at for i in moved}
    dated = [t for t in times.values() if t is not None]
    assert all(noon <= t <= noon + timedelta(hours=36) for t in dated)
    assert len(set(dated)) == 20  # each article its own draw
    assert times["u"] is None and moved[-1].article.id == "u"  # undated last
    assert [i.article.timestamp for i in moved[:-1]] == sorted(t.timestamp() for t in dated)
    # the same article moves the same way whatever the file's order; another seed differs
    assert {i.article.id: i.article.published_at for i in spread(items[::-1], 36.0)} == times
    assert {i.article.id: i.article.published_at for i in spread(items, 36.0, seed=1)} != times
    assert {i.article.published_at for i in spread(items, 0.0)} == {noon, None}


def test_evaluate_scores_storylines_beside_both_baselines(tmp_path: Path) -> None:
    annotation = tmp_path / "storylines.jsonl"
    lines = {"cop": "COP31 summit", "nk": "US-Russia talks on North Korea",
             "nk-apec": "US-Russia talks on North Korea"}
    gold = {str(item.cluster) for item in labelled_items(DEMO)}
    annotation.write_text("".join(json.dumps({"story": story, "storyline": lines.get(story)})
                                  + "\n" for story in sorted(gold)))
    env = {**os.environ, "NEWSCLUSTERS_EMBEDDER": "hashing"}
    result = subprocess.run(
        [sys.executable, "scripts/evaluate.py", str(DEMO), "--json", "--no-bertopic",
         "--cache-dir", str(tmp_path), "--storylines", str(annotation)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    rows = {row["method"].split(" (")[0]: row
            for row in json.loads(result.stdout)["files"][0]["storylines"]}
    for view in ("from gold stories", "end to end"):
        assert rows[f"{view}: every story alone"]["precision"] == pytest.approx(1.0, abs=0.02)
        assert rows[f"{view}: every story alone"]["recall"] < 1.0
        assert f"{view}: linking story centroids" in rows
        assert 0.0 < rows[f"{view}: the linking rule"]["f1"] <= 1.0
    assert "end to end: storylines built online" in rows
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{\"story\": \"cop\"}\n")
    bad = subprocess.run(
        [sys.executable, "scripts/evaluate.py", str(DEMO), "--storylines", str(broken)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode == 2 and "--storylines" in bad.stderr and "broken.jsonl:1" in bad.stderr


def test_the_linking_rule_scores_one_on_storylines_it_can_see() -> None:
    from cluster.evaluation.storylines import score_storylines
    from cluster.settings import ClusterParams

    def item(article_id: str, story: str, day: int) -> LabelledArticle:
        return LabelledArticle(Article(article_id, article_id, "", "Wire", None,
                                       datetime(2026, 1, 1 + day, tzinfo=UTC), "en"), story)

    items = [item("a1", "a", 0), item("a2", "a", 0), item("b1", "b", 5), item("c1", "c", 6)]
    vectors = np.array([[1, 0.1, 0], [1, 0, 0.1], [1, 0.2, 0], [0, 0, 1]], dtype=np.float32)
    annotation = {"a": "talks", "b": "talks", "c": None}
    rows = {r.method.split(" (")[0]: r for r in score_storylines(
        items, vectors, annotation, ClusterParams(), ["x", "x", "y", "z"], [7, 7, 7, None])}
    assert rows["from gold stories: the linking rule"].f1 == pytest.approx(1.0)
    assert rows["from gold stories: the linking rule"].storylines == 1
    assert rows["end to end: storylines built online"].f1 == pytest.approx(1.0)
    assert rows["from gold stories: every story alone"].recall < 1.0
