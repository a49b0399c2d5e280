"""The scale-out deployment on a local cluster (PostgreSQL and a Ray cluster
of one-CPU nodes, all on loopback), measured part by part:

1. embedding throughput with 1 and 2 embedding actors (the packaged model,
   real news texts when ../shared/data is there, synthetic ones otherwise);
2. the writer's clustering throughput, draining a queue of ``--articles``
   pre-embedded synthetic articles (``benchmarks/synthetic.py``), as one
   writer and as ``--partitions`` partitions with their coordinator;
3. read latency from a stateless reader on the PostgreSQL store: related
   coverage of stored articles, and the story listing.

    python -m benchmarks.scale_out [--articles 100000] [--partitions 1,2] [--json]
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

from benchmarks.synthetic import generate
from benchmarks.throughput import percentile
from cluster.articles.incoming import Article
from cluster.embedding.models import create_embedder, embedding_text, text_fingerprint
from cluster.scaleout.actors import (
    CoordinatorActor,
    EmbeddingActor,
    PartitionActor,
    WriterActor,
    settings_values,
)
from cluster.scaleout.local_ray import LocalRay
from cluster.scaleout.queue import IngestQueue
from cluster.settings import Settings, load_settings
from cluster.store.local_postgres import LocalPostgres
from cluster.store.postgres import PostgresStore

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def news_texts(limit: int) -> list[Article]:
    from cluster.articles.jsonl import read_labelled

    files = [SHARED / "allsides_dev.jsonl", SHARED / "ecbplus_dev.jsonl"]
    if all(f.exists() for f in files):
        return [i.article for f in files for i in read_labelled(f)][:limit]
    print("../shared/data is absent: embedding synthetic texts instead")
    return generate(limit).articles


def _drain(queue: IngestQueue, embedded_only: bool, timeout: float = 3600.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        depth = queue.depth()
        if depth.waiting == 0 and (embedded_only or depth.embedded == 0):
            return time.perf_counter() - started
        time.sleep(0.1)
    raise TimeoutError("the queue did not drain")


def _acknowledge_all(queue: IngestQueue) -> None:
    while batch := queue.next_batch():
        queue.acknowledge([e.seq for e in batch])


def embedding_rate(settings: Settings, articles: list[Article], actors: int) -> dict[str, Any]:
    import ray

    queue = IngestQueue(settings.store_location)
    embedder_class: Any = ray.remote(EmbeddingActor)
    values = settings_values(settings)
    workers = [embedder_class.options(num_cpus=1).remote(values, f"bench-{n}", 64)
               for n in range(actors)]
    warm = [Article(f"warm-{n}", f"warm-up {n}", "text", "W", None, None, "en")
            for n in range(64 * actors)]
    for start in range(0, len(warm), 64):  # every actor loads its model before the clock
        queue.enqueue(warm[start:start + 64])
    _drain(queue, embedded_only=True)
    _acknowledge_all(queue)
    for start in range(0, len(articles), 64):
        queue.enqueue(articles[start:start + 64])
    seconds = _drain(queue, embedded_only=True)
    ray.get([w.stop.remote() for w in workers])
    for worker in workers:
        ray.kill(worker)
    _acknowledge_all(queue)
    queue.close()
    return {"actors": actors, "articles": len(articles), "seconds": round(seconds, 1),
            "articles_per_s": round(len(articles) / seconds, 1)}


def clustering_rate(settings: Settings, count: int, partitions: int = 1) -> dict[str, Any]:
    import ray

    corpus = generate(count)
    model = create_embedder(settings).model_name
    queue = IngestQueue(settings.store_location)
    for start in range(0, count, 256):  # the writer clusters each as one batch
        chunk = corpus.articles[start:start + 256]
        seqs = queue.enqueue(chunk)
        queue.claim("bench", len(chunk), lease_s=3600)
        queue.complete("bench", [
            (seq, corpus.vectors[start + n],
             text_fingerprint(embedding_text(a.title, a.text, settings.lead_chars), model))
            for n, (seq, a) in enumerate(zip(seqs, chunk, strict=True))])
    values = settings_values(settings)
    if partitions == 1:
        writers: list[Any] = [ray.remote(WriterActor).options(num_cpus=1).remote(values)]
    else:
        writers = [ray.remote(CoordinatorActor).options(num_cpus=0).remote(values, partitions)]
        writers += [ray.remote(PartitionActor).options(num_cpus=1).remote(values, n)
                    for n in range(partitions)]
    ray.get([w.status.remote() for w in writers])
    seconds = _drain(queue, embedded_only=False)
    statuses: list[dict[str, Any]] = ray.get([w.stop.remote() for w in writers])
    for writer in writers:
        ray.kill(writer)
    queue.close()
    result: dict[str, Any] = {"partitions": partitions, "articles": count,
                              "seconds": round(seconds, 1),
                              "articles_per_s": round(count / seconds, 1)}
    if partitions > 1:
        result["per_partition"] = [
            {"clustered": st["clustered"], "articles_per_s": round(st["clustered"] / seconds, 1),
             "waited_at_barriers_s": st["waited_s"]}
            for st in statuses[1:]]
        result["barriers"], result["folds"] = statuses[0]["barriers"], statuses[0]["folds"]
        result["reconciling_s"] = statuses[0]["reconciling_s"]
    return result


def read_latency(settings: Settings, samples: int = 300) -> dict[str, Any]:
    from api import create_app
    from cluster.service.facade import StoryService

    reader = StoryService.reader(settings).open()
    try:
        client = create_app(service=reader).test_client()
        with reader.store.read() as store:
            ids = list(store.assignments())
        rng = random.Random(5)
        related: list[float] = []
        listing: list[float] = []
        for _ in range(samples):
            started = time.perf_counter()
            assert client.get(f"/api/v1/articles/{rng.choice(ids)}/related").status_code == 200
            related.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            assert client.get("/api/v1/stories?limit=20").status_code == 200
            listing.append((time.perf_counter() - started) * 1000)
    finally:
        reader.close()
    return {"related_p50_ms": round(percentile(related, 50), 1),
            "related_p99_ms": round(percentile(related, 99), 1),
            "stories_p50_ms": round(percentile(listing, 50), 1),
            "stories_p99_ms": round(percentile(listing, 99), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--embed-articles", type=int, default=1500)
    parser.add_argument("--partitions", default="1,2",
                        type=lambda v: [int(p) for p in v.split(",") if p],
                        help="Writer partitions to measure, comma-separated (default 1,2).")
    parser.add_argument("--skip-embedding", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="nc-bench-"))
    folder.chmod(0o711)  # the server may run as the postgres user, who must pass through
    postgres = LocalPostgres(folder / "pg").start()
    ray_cluster = LocalRay(folder / "ray", nodes=3, memory_per_node=4 * 1024 ** 3).start()
    results: dict[str, Any] = {}
    try:
        import ray

        from cluster.scaleout.local_ray import keep_on_loopback

        keep_on_loopback()
        ray.init(address=ray_cluster.address, log_to_driver=False)
        base = {"data_dir": folder / "var", "index_dir": folder / "indexes"}
        news = news_texts(args.embed_articles)
        for actors in () if args.skip_embedding else (1, 2):
            url = postgres.create_database(f"embed_{actors}")
            settings = load_settings({**base, "store_url": url}, environ={})
            PostgresStore(url).close()
            results[f"embedding_{actors}"] = embedding_rate(settings, news, actors)
            print(results[f"embedding_{actors}"], flush=True)
        for partitions in args.partitions:
            url = postgres.create_database(f"cluster_{partitions}")
            PostgresStore(url).close()
            settings = load_settings({**base, "store_url": url}, environ={})
            key = "clustering" if partitions == 1 else f"clustering_{partitions}_partitions"
            results[key] = clustering_rate(settings, args.articles, partitions)
            print(results[key], flush=True)
        results["reads"] = read_latency(settings)
        print(results["reads"], flush=True)
    finally:
        ray_cluster.stop()
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
