"""Measurements behind ``python -m scripts.bench``: ingest throughput end to end against
embedding alone on the same texts, and related-coverage latency."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cluster.articles.importer import import_articles
from cluster.articles.jsonl import LabelledArticle
from cluster.embedding.models import Embedder, embedding_text
from cluster.evaluation.replay import scratch_service
from cluster.settings import Settings


@dataclass(frozen=True)
class BenchReport:
    corpus: str
    articles: int
    embed_only_per_s: float
    ingest_per_s: float
    ingest_vs_embed: float
    related_stored_p50_ms: float
    related_stored_p99_ms: float
    related_text_p50_ms: float
    related_text_p99_ms: float
    stories: int


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[position]


def run_benchmark(
    settings: Settings, embedder: Embedder, items: Sequence[LabelledArticle], corpus: str,
    queries: int = 200, text_queries: int = 50, batch_size: int = 64, rounds: int = 4,
) -> BenchReport:
    """The stream is cut into ``rounds`` parts, and each part is embedded alone
    and then ingested end to end before the next part: the two rates are taken
    under the same machine conditions. (Taken one after the other over the
    whole corpus, a neighbour's load on a shared machine moved their ratio by
    ±10 points between runs.)"""
    texts = [embedding_text(i.article.title, i.article.text, settings.lead_chars) for i in items]
    embedder.embed(texts[:8])  # load the model and warm up before timing
    size = max(1, -(-len(items) // max(1, rounds)))
    embedding_s = ingest_s = 0.0
    with scratch_service(settings, embedder) as service:
        for begin in range(0, len(items), size):
            started = time.perf_counter()
            for start in range(begin, min(begin + size, len(items)), batch_size):
                embedder.embed(texts[start:min(start + batch_size, begin + size)])
            embedding_s += time.perf_counter() - started
            started = time.perf_counter()
            import_articles(service, items[begin:begin + size], batch_size)
            # the background refresh counts too (and must not run into the next
            # part's embedding); the settle delay (idle, not work) does not
            service.wait_for_presentation(hurry=True)
            ingest_s += time.perf_counter() - started
        embed_rate = len(texts) / embedding_s
        ingest_rate = len(items) / ingest_s
        rng = random.Random(7)
        stored: list[float] = []
        for item in rng.choices(items, k=queries):
            t0 = time.perf_counter()
            service.related(item.article.id)
            stored.append((time.perf_counter() - t0) * 1000)
        fresh: list[float] = []
        for item in rng.choices(items, k=text_queries):
            t0 = time.perf_counter()
            service.related_to_text(item.article.title + " (update)", item.article.text)
            fresh.append((time.perf_counter() - t0) * 1000)
        with service.store.read() as reader:
            story_total = reader.story_count(("active", "dormant", "archived"))
    return BenchReport(
        corpus=corpus, articles=len(items), embed_only_per_s=round(embed_rate, 1),
        ingest_per_s=round(ingest_rate, 1), ingest_vs_embed=round(ingest_rate / embed_rate, 3),
        related_stored_p50_ms=round(statistics.median(stored), 2),
        related_stored_p99_ms=round(percentile(stored, 99), 2),
        related_text_p50_ms=round(statistics.median(fresh), 2),
        related_text_p99_ms=round(percentile(fresh, 99), 2),
        stories=story_total,
    )
