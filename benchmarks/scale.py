"""The scale mode of ``python -m scripts.bench``: a synthetic stream of N articles through
the real store, index and clusterer (embedding replaced by precomputed
vectors), then the figures a large deployment cares about."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.synthetic import PrecomputedEmbedder, SyntheticCorpus, generate
from benchmarks.throughput import percentile
from cluster.service.facade import StoryService
from cluster.service.view_builders import RelatedFilters, StoryQuery
from cluster.settings import Settings
from cluster.types import ArticleKey, Matrix


@dataclass(frozen=True)
class ScaleReport:
    articles: int
    stories: int
    ingest_per_s: float
    """Articles/s through store, index, clusterer and maintenance; no embedding;
    story presentation in the background (as the server runs it)."""
    presentation_drain_s: float
    """Seconds the background presentation still needed after the last batch."""
    ingest_presented_per_s: float
    """Articles/s counting that tail: until every story was presented."""
    related_stored_p50_ms: float
    related_stored_p99_ms: float
    related_text_p50_ms: float
    related_text_p99_ms: float
    listing_p50_ms: float
    listing_p99_ms: float
    startup_s: float
    rss_per_article_bytes: float
    rebuild_s: float
    index_bytes: int
    store_bytes: int
    index_kind: str
    recall_at_10: float
    """Share of the exact 10 nearest stored articles that the index returns."""
    presentation_worker: str = "process"


class NamedEmbedder:
    """Opens a synthetic store again without its vectors (it never embeds)."""

    def __init__(self, model_name: str, dimension: int) -> None:
        self.model_name = model_name
        self.dimension = dimension

    def embed(self, texts: Sequence[str]) -> Matrix:
        raise RuntimeError("the start-up probe does not embed")


STARTUP_PROBE = """
import json, sys, time
from pathlib import Path
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096
from benchmarks.scale import NamedEmbedder
from cluster.service.facade import StoryService
from cluster.settings import load_settings
settings = load_settings({"data_dir": Path(sys.argv[1]), "index_dir": Path(sys.argv[2]),
                          "embedder": "hashing"})
import numpy, faiss, sqlite3  # libraries count as baseline, not as per-article memory
before = rss()
started = time.perf_counter()
service = StoryService(settings, NamedEmbedder("synthetic-structure", 384)).open()
seconds = time.perf_counter() - started
after = rss()
print(json.dumps({"startup_s": seconds, "rss_bytes": after - before,
                  "articles": service.article_count()}))
"""


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _recall(service: StoryService, corpus: SyntheticCorpus, rows: list[int]) -> float:
    """recall@10 of the service's index against exact search over the corpus."""
    queries = corpus.vectors[rows]
    exact = np.argpartition(-(queries @ corpus.vectors.T), 9, axis=1)[:, :10]
    _, keys = service.index.search(queries, 10)
    with service.store.read() as reader:
        found = reader.articles_by_keys([ArticleKey(int(k)) for k in keys.reshape(-1) if k >= 0])
    ids = {int(key): article.id for key, article in found.items()}
    hits = 0
    for row in range(len(rows)):
        truth = {corpus.articles[i].id for i in exact[row]}
        got = {ids[int(k)] for k in keys[row] if int(k) in ids}
        hits += len(truth & got)
    return hits / (10 * len(rows))


def run_scale(
    settings: Settings, count: int, queries: int = 200, seed: int = 7,
    progress: Callable[[str], None] | None = None, keep: Path | None = None,
) -> ScaleReport:
    """Load ``count`` synthetic articles into a fresh store and measure it; in
    ``keep`` (which must not hold a store yet) instead of a temporary folder."""
    say = progress or (lambda _: None)
    if keep is not None and (keep / "var").exists():
        raise FileExistsError(f"{keep / 'var'} exists: the benchmark needs an empty store")
    say("generating")
    corpus = generate(count, seed=seed)
    with (tempfile.TemporaryDirectory(prefix="newsclusters-scale-") if keep is None
          else nullcontext(str(keep))) as folder:
        local = settings.model_copy(update={
            "data_dir": Path(folder) / "var", "index_dir": Path(folder) / "indexes",
            "max_batch": max(settings.max_batch, 500)})
        embedder = PrecomputedEmbedder(corpus, local.lead_chars)
        service = StoryService(local, embedder).open()
        started = time.perf_counter()
        for start in range(0, len(corpus.articles), 500):
            service.ingest(corpus.articles[start:start + 500])
            if start % 50_000 == 0:
                say(f"ingested {start + 500:,} of {count:,}")
        ingested = time.perf_counter() - started
        service.wait_for_presentation(hurry=True)  # no idle settle delay at the end
        presented = time.perf_counter() - started
        say("snapshot, queries")
        service.snapshot()
        rng = random.Random(seed)
        stored: list[float] = []
        for article in rng.sample(corpus.articles, min(queries, len(corpus.articles))):
            t0 = time.perf_counter()
            service.related(article.id, RelatedFilters(k=10))
            stored.append((time.perf_counter() - t0) * 1000)
        fresh: list[float] = []
        for title, lead in rng.sample(corpus.queries, min(queries // 2, len(corpus.queries))):
            t0 = time.perf_counter()
            service.related_to_text(title, lead, RelatedFilters(k=10))
            fresh.append((time.perf_counter() - t0) * 1000)
        listing: list[float] = []
        for n in range(100):
            t0 = time.perf_counter()
            service.list_stories(StoryQuery(status="all" if n % 2 else "active",
                                            order="hotness" if n % 3 else "last_updated"))
            listing.append((time.perf_counter() - t0) * 1000)
        with service.store.read() as reader:
            stories = reader.story_count(("active", "dormant", "archived"))
        recall = _recall(service, corpus, rng.sample(range(count), min(queries, count)))
        say("rebuild")
        started = time.perf_counter()
        service.rebuild()
        rebuild_s = time.perf_counter() - started
        index_kind = service.index.kind
        service.close()
        say("start-up probe")
        probe = subprocess.run(
            [sys.executable, "-c", STARTUP_PROBE, str(local.data_dir), str(local.index_dir)],
            capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
        started_info = json.loads(probe.stdout.strip().splitlines()[-1])
        return ScaleReport(
            articles=len(corpus.articles), stories=stories,
            ingest_per_s=round(count / ingested, 1),
            presentation_drain_s=round(presented - ingested, 2),
            ingest_presented_per_s=round(count / presented, 1),
            related_stored_p50_ms=round(percentile(stored, 50), 2),
            related_stored_p99_ms=round(percentile(stored, 99), 2),
            related_text_p50_ms=round(percentile(fresh, 50), 2),
            related_text_p99_ms=round(percentile(fresh, 99), 2),
            listing_p50_ms=round(percentile(listing, 50), 2),
            listing_p99_ms=round(percentile(listing, 99), 2),
            startup_s=round(started_info["startup_s"], 2),
            rss_per_article_bytes=round(started_info["rss_bytes"] / len(corpus.articles), 1),
            rebuild_s=round(rebuild_s, 2),
            index_bytes=_size(local.index_dir), store_bytes=_size(local.data_dir),
            index_kind=index_kind, recall_at_10=round(recall, 4),
            presentation_worker=local.presentation_worker,
        )
