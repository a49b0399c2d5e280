"""The scripts run as a user runs them: in a subprocess, configured by environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cluster.service.facade import StoryService
from tests.conftest import DEMO, ROOT, make_settings


def run_script(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEWSCLUSTERS_DATA_DIR": str(tmp_path / "var"),
           "NEWSCLUSTERS_INDEX_DIR": str(tmp_path / "indexes"),
           "NEWSCLUSTERS_EMBEDDER": "hashing"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_ingest_is_resumable_and_rebuild_swaps_the_index(tmp_path: Path) -> None:
    total = len(DEMO.read_text().splitlines())
    first = run_script(tmp_path, "scripts/ingest.py", str(DEMO))
    assert first.returncode == 0, first.stderr
    assert f"created {total}," in first.stdout
    again = run_script(tmp_path, "scripts/ingest.py", str(DEMO))
    assert again.returncode == 0 and "created 0," in again.stdout
    assert f"unchanged {total};" in again.stdout
    skipped = run_script(tmp_path, "scripts/ingest.py", "--if-empty", str(DEMO))
    assert "nothing imported" in skipped.stdout

    service = StoryService(make_settings(tmp_path)).open()
    before = service.assignments()
    service.close()
    rebuilt = run_script(tmp_path, "scripts/rebuild_index.py", "--recluster")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"rebuilt index: {total} articles" in rebuilt.stdout
    service = StoryService(make_settings(tmp_path)).open()
    assert service.assignments() == before and service.readiness().in_sync
    service.close()


def test_ingest_reports_bad_lines_by_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "title": "fine", "date": "2024-01-01T00:00:00Z"}\n'
                   '{"id": "b", "title": "", "date": "2024-01-01T00:00:00Z"}\n')
    result = run_script(tmp_path, "scripts/ingest.py", str(bad))
    assert result.returncode == 2
    assert "bad.jsonl:2.title" in result.stderr


def test_ingest_refuses_a_lone_surrogate_by_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "surrogate.jsonl"
    bad.write_text('{"id": "a", "title": "fine", "date": "2024-01-01T00:00:00Z"}\n'
                   '{"id": "b", "title": "ok", "text": "broken \\ud800 body", '
                   '"date": "2024-01-01T00:00:00Z"}\n')
    result = run_script(tmp_path, "scripts/ingest.py", str(bad))
    assert result.returncode == 2, result.stderr
    assert "surrogate.jsonl:2.text" in result.stderr and "Traceback" not in result.stderr


def test_bench_runs_on_a_tiny_corpus(tmp_path: Path) -> None:
    result = run_script(tmp_path, "-m", "scripts.bench", "--file", str(DEMO), "--queries", "10")
    assert result.returncode == 0, result.stderr
    assert "articles/s" in result.stdout and "p99" in result.stdout


def test_synthetic_stream_keeps_the_similarity_structure() -> None:
    import numpy as np

    from benchmarks.synthetic import generate

    corpus = generate(2000, seed=3)
    assert len(corpus.articles) == 2000 == len(corpus.vectors) == len(corpus.stories)
    stamps = [a.published_at for a in corpus.articles]
    assert stamps == sorted(stamps)
    gold = np.array(corpus.stories)
    vectors = corpus.vectors
    same = [float(vectors[i] @ vectors[j]) for i in range(300) for j in range(i + 1, 300)
            if gold[i] == gold[j]]
    other = [float(vectors[i] @ vectors[i + 1]) for i in range(300) if gold[i] != gold[i + 1]]
    assert 0.55 < float(np.mean(same)) < 0.85 and abs(float(np.mean(other))) < 0.2


def test_scale_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    from benchmarks.scale import run_scale
    from tests.conftest import make_settings

    report = run_scale(make_settings(tmp_path), 400, queries=20)
    assert report.articles == 400 and report.stories > 50
    assert report.index_bytes > 400 * 384 * 4 and report.startup_s > 0
    assert report.related_stored_p50_ms > 0 and report.listing_p50_ms > 0
    assert report.index_kind == "faiss-flat" and report.recall_at_10 >= 0.99  # exact
