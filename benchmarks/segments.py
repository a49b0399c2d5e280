"""What a reader on another machine fetches as the index grows: whole
snapshots against segments (cluster/index/segments.py), on a local
PostgreSQL server.

A writer clusters ``--articles`` pre-embedded synthetic articles
(``benchmarks/synthetic.py``) and publishes a whole snapshot; a reader in
queue mode with its own index folder fetches and maps it. Then, ``--rounds``
times, the writer takes ``--step`` more articles (the 2 % of the index that
``snapshot_share`` lets change between snapshots) and publishes a segment,
and the reader catches up. Last the writer publishes the whole snapshot
again, as it does once the segments reach their limit. For each
publication: the bytes it put in the store, the writer's seconds for the
snapshot and its publication, the reader's seconds to fetch it and map the
chain again; and related-coverage latency on the reader before and after.

    python -m benchmarks.segments [--articles 60000] [--step 1200] [--rounds 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.synthetic import PrecomputedEmbedder, generate
from benchmarks.throughput import percentile
from cluster.scaleout.snapshot_shelf import SegmentPolicy
from cluster.service.facade import StoryService
from cluster.settings import Settings, load_settings
from cluster.store.local_postgres import LocalPostgres
from cluster.store.postgres import PostgresStore


def _published_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT COALESCE(SUM(octet_length(p.data)), 0) FROM index_snapshot_parts p "
            "WHERE p.snapshot_id = (SELECT MAX(id) FROM index_snapshots)").fetchone()
    return int(row[0]) if row else 0


def _related_ms(reader: StoryService, ids: list[str], samples: int = 200) -> dict[str, float]:
    """Related coverage of stored articles (most of it is store reads), and
    the replica's own search for the same articles' vectors (the part the
    segments change)."""
    from cluster.service.view_builders import RelatedFilters

    rng = random.Random(3)
    taken: list[float] = []
    searched: list[float] = []
    chosen = [rng.choice(ids) for _ in range(samples)]
    with reader.store.read() as store:
        keys = [store.article_by_id(i).key for i in chosen]  # type: ignore[union-attr]
        vectors = store.vectors(keys)
    for article_id, vector in zip(chosen, vectors, strict=True):
        started = time.perf_counter()
        reader.related(article_id, RelatedFilters(k=10))
        taken.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        reader.index.search(vector.reshape(1, -1), 71)
        searched.append((time.perf_counter() - started) * 1000)
    return {"p50": round(percentile(taken, 50), 2), "p99": round(percentile(taken, 99), 2),
            "index_search_p50": round(percentile(searched, 50), 3),
            "index_search_p99": round(percentile(searched, 99), 3)}


def _publication(writer: StoryService, reader: StoryService, url: str,
                 kind: str) -> dict[str, Any]:
    started = time.perf_counter()
    writer.snapshot()  # writes the local snapshot and publishes before returning
    published_s = time.perf_counter() - started
    size = _published_bytes(url)
    assert reader.follower is not None and reader._runtime is not None
    started = time.perf_counter()
    reader._runtime.newer_published(0.0)  # fetches, as its next look at the store would
    reader.follower.catch_up()
    caught_up_s = time.perf_counter() - started
    index: Any = reader.index
    return {"kind": kind, "vectors": len(writer.index), "published_bytes": size,
            "writer_snapshot_and_publish_s": round(published_s, 2),
            "reader_fetch_and_map_s": round(caught_up_s, 2),
            "reader_sealed_parts": index.sealed_parts, "reader_tail": index.tail_size}


def _ingest(writer: StoryService, articles: list[Any]) -> None:
    for start in range(0, len(articles), 500):
        writer.ingest(articles[start:start + 500])


def run(settings: Settings, url: str, articles: int, step: int, rounds: int,
        say: Any = print) -> dict[str, Any]:
    corpus = generate(articles + step * (rounds + 1))
    embedder = PrecomputedEmbedder(corpus, settings.lead_chars)
    writer = StoryService(settings, embedder).open()
    results: dict[str, Any] = {"articles": articles, "step": step, "publications": []}
    try:
        started = time.perf_counter()
        _ingest(writer, corpus.articles[:articles])
        say(f"ingested {articles:,} in {time.perf_counter() - started:.0f} s")
        writer.wait_for_presentation(hurry=True)
        reader_settings = settings.model_copy(update={
            "index_dir": settings.index_dir.parent / "reader-indexes", "writes": "queue"})
        writer.snapshot()
        started = time.perf_counter()
        reader = StoryService.reader(reader_settings, embedder).open()
        results["reader_open_s"] = round(time.perf_counter() - started, 2)
        results["whole_bytes"] = _published_bytes(url)
        try:
            ids = [a.id for a in corpus.articles[:articles]]
            results["related_ms_whole_only"] = _related_ms(reader, ids)
            at = articles
            for _ in range(rounds):
                _ingest(writer, corpus.articles[at:at + step])
                at += step
                results["publications"].append(_publication(writer, reader, url, "segment"))
                say(results["publications"][-1])
            results["related_ms_with_segments"] = _related_ms(reader, ids)
            runtime = writer._runtime
            assert runtime is not None and runtime.publisher is not None
            runtime.publisher.shelf.policy = SegmentPolicy(
                0, 0.5, settings.index_backend, settings.ivf_threshold, settings.index_nprobe)
            _ingest(writer, corpus.articles[at:at + step])
            results["publications"].append(_publication(writer, reader, url, "whole"))
            say(results["publications"][-1])
            results["related_ms_after_whole"] = _related_ms(reader, ids)
        finally:
            reader.close()
    finally:
        writer.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=60_000)
    parser.add_argument("--step", type=int, default=1_200)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="nc-segments-"))
    folder.chmod(0o711)  # the server may run as the postgres user, who must pass through
    postgres = LocalPostgres(folder / "pg").start()
    try:
        url = postgres.create_database("segments")
        PostgresStore(url).close()
        settings = load_settings({
            "data_dir": folder / "var", "index_dir": folder / "writer-indexes",
            "store_url": url, "max_batch": 500, "presentation_worker": "thread",
            "snapshot_every": 10_000_000}, environ={})  # snapshots only where measured
        results = run(settings, url, args.articles, args.step, args.rounds)
    finally:
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(results, indent=2) if args.json else results)


if __name__ == "__main__":
    main()
