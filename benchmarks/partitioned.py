"""A partitioned writer against one writer, on the labelled files: BCubed F1
of the stories each builds from the same batches, with the packaged model's
vectors (cached, as ``newsclusters evaluate`` caches them), on a local
PostgreSQL server. The partitions and the coordinator run as threads of
this process: quality does not depend on where they run (the stories depend
on the input alone), speed does (see ``benchmarks/scale_out.py``).

    python -m benchmarks.partitioned [FILE.jsonl ...] [--partitions 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cluster.articles.importer import batches_of
from cluster.embedding.cache import CachingEmbedder, default_cache_dir
from cluster.embedding.models import Embedder, create_embedder
from cluster.evaluation.replay import labelled_items, run_clusterer
from cluster.evaluation.scores import bcubed
from cluster.scaleout.coordinator import Coordinator
from cluster.scaleout.embedding_worker import EmbeddingWorker
from cluster.scaleout.partitions import PartitionConsumer, PartitionLedger
from cluster.scaleout.queue import IngestQueue
from cluster.scaleout.routing import Share
from cluster.service.facade import StoryService
from cluster.settings import Settings, load_settings
from cluster.store.local_postgres import LocalPostgres
from cluster.store.postgres import PostgresStore

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = ("allsides_dev.jsonl", "ecbplus_dev.jsonl", "uci_headlines.jsonl")


def run_partitioned(settings: Settings, embedder: Embedder, batches: list[list[Any]],
                    partitions: int) -> tuple[dict[str, int], dict[str, Any]]:
    url = settings.store_location
    queue = IngestQueue(url)
    for batch in batches:
        queue.enqueue(batch)
    worker = EmbeddingWorker(queue, embedder, settings.lead_chars, "bench", batch=256)
    while worker.embed_some():
        pass
    coordinator = Coordinator(settings, partitions, IngestQueue(url), PartitionLedger(url))
    while (plan := coordinator.prepare()) is None:
        time.sleep(0.05)
    stops = [threading.Event() for _ in range(partitions + 1)]
    services = [StoryService(settings, embedder, share=Share(p, plan)).open()
                for p in range(partitions)]
    consumers = [PartitionConsumer(services[p], IngestQueue(url), PartitionLedger(url),
                                   Share(p, plan)) for p in range(partitions)]
    threads = [threading.Thread(target=coordinator.run, args=(stops[0],), daemon=True)]
    threads += [threading.Thread(target=c.run, args=(stops[n + 1],), daemon=True)
                for n, c in enumerate(consumers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    while queue.oldest_batch_after(None) is not None:
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    for stop in stops:
        stop.set()
    for thread in threads:
        thread.join(60)
    status = {**coordinator.status(), "seconds": round(seconds, 1),
              "per_partition": [c.totals.clustered for c in consumers]}
    for consumer, service in zip(consumers, services, strict=True):
        consumer.queue.close()
        consumer.ledger.close()
        service.close()
    coordinator.queue.close()
    coordinator.ledger.close()
    coordinator.close()
    queue.close()
    store = PostgresStore(url, read_only=True)
    try:
        with store.read() as reader:
            return {k: int(v) for k, v in reader.assignments().items()}, status
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    files = args.files or [SHARED / name for name in FILES]
    missing = [f for f in files if not f.exists()]
    if missing:
        print(f"skipped: {', '.join(map(str, missing))} absent (the shared data is not here)")
        return
    folder = Path(tempfile.mkdtemp(prefix="nc-partitioned-"))
    folder.chmod(0o711)  # the server may run as the postgres user, who must pass through
    postgres = LocalPostgres(folder / "pg", durable=False).start()
    results: dict[str, Any] = {}
    try:
        base = load_settings({"data_dir": folder / "var", "index_dir": folder / "indexes",
                              "presentation_worker": "thread"}, environ={})
        embedder = CachingEmbedder(create_embedder(base),
                                   default_cache_dir() / "embeddings.sqlite3")
        for number, path in enumerate(files):
            items = labelled_items(path)
            gold = [item.cluster for item in items]
            predicted, _ = run_clusterer(base, embedder, items, batch_size=args.batch_size)
            url = postgres.create_database(f"file_{number}")
            PostgresStore(url).close()
            settings = base.model_copy(update={
                "store_url": load_settings({"store_url": url}, environ={}).store_url,
                "index_dir": folder / f"indexes-{number}"})
            assigned, status = run_partitioned(settings, embedder,
                                               batches_of(items, args.batch_size),
                                               args.partitions)
            one = bcubed(gold, predicted)[2]
            parted = bcubed(gold, [assigned[item.article.id] for item in items])[2]
            results[path.name] = {"one_writer": round(one, 4), "partitioned": round(parted, 4),
                                  "difference": round(parted - one, 4), **status}
            print(path.name, results[path.name], flush=True)
    finally:
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
