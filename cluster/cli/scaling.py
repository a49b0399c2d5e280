"""``newsclusters scale-out``: the writer and the embedding workers as Ray
actors over the PostgreSQL store and its ingest queue (docs/SCALE_OUT.md)."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cluster.cli.common import Commands, add_command, progress_bar, readable_file

STATUS_EVERY_S = 30.0


def register(commands: Commands) -> None:
    parser = add_command(
        commands, "scale-out", scale_out, "run the writer and embedding workers on Ray",
        """
        Start the scale-out deployment: the one writer and N embedding
        workers as Ray actors (each restarted by Ray when it dies) over the
        PostgreSQL store named by store_url, fed by the store's ingest queue.
        The given JSONL files are queued (all lines are read and checked
        first, as by `ingest`), with a progress bar until every article is
        clustered. Then, with --exit-when-drained, the command stops the
        actors and ends; otherwise it keeps the deployment running, printing
        its state every 30 s, until Ctrl-C or SIGTERM, which stop the actors
        after the batch each is working on (what is queued stays queued for
        the next start).

        With --partitions P (2 or more) the writer is partitioned: P
        partition actors, each the single writer of its share of the stream
        (routed by content), and a coordinator that joins the stories they
        split, after every batch (docs/SCALE_OUT.md).

        With --local it starts everything on the local machine, on loopback only:
        a PostgreSQL server with its data in <data_dir>/postgres (kept
        between runs) and a Ray cluster of --nodes nodes in a temporary
        folder. Without it, it joins the Ray cluster at --ray-address (or
        RAY_ADDRESS) and uses store_url.
        """, ("store_url", "data_dir", "index_dir", "embedder", "embed_batch_size"))
    parser.add_argument("files", nargs="*", type=readable_file, metavar="FILE.jsonl",
                        help="Files to queue.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true",
                       help="Start PostgreSQL and Ray here, on loopback.")
    where.add_argument("--ray-address", metavar="HOST:PORT",
                       help="The Ray cluster to join (default: RAY_ADDRESS).")
    parser.add_argument("--embedders", type=int, default=1, metavar="N",
                        help="Embedding actors (default 1).")
    parser.add_argument("--partitions", type=int, default=1, metavar="P",
                        help="Writer partitions (default 1: one writer).")
    parser.add_argument("--nodes", type=int, default=None, metavar="N",
                        help="With --local: Ray nodes, one CPU each (default: one per "
                             "actor, the embedders and the writer or its partitions).")
    parser.add_argument("--embed-batch", type=int, default=64, metavar="N",
                        help="Articles an embedding actor claims at a time (default 64).")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N",
                        help="Articles per queued batch, which the writer clusters in one "
                             "transaction, as `ingest` does (default 64; at most max_batch).")
    parser.add_argument("--exit-when-drained", action="store_true",
                        help="Stop once every queued article is clustered.")


def _local_services(stack: ExitStack, settings: Any, nodes: int) -> tuple[Any, str]:
    """A PostgreSQL server and a Ray cluster on loopback, stopped by ``stack``."""
    from cluster.scaleout.local_ray import LocalRay
    from cluster.store.local_postgres import LocalPostgres

    postgres = LocalPostgres(settings.data_dir.resolve() / "postgres").start()
    stack.callback(postgres.stop)
    url = postgres.create_database("newsclusters", exist_ok=True)
    print(f"PostgreSQL on 127.0.0.1:{postgres.port} (data in {postgres.folder})")
    ray = LocalRay(Path(tempfile.mkdtemp(prefix="nc-ray-")), nodes=nodes).start()
    stack.callback(ray.stop)
    print(f"Ray on {ray.address} ({nodes} nodes)")
    return settings.model_copy(update={"store_url": _secret(url)}), ray.address


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


def scale_out(args: argparse.Namespace) -> int:
    import os

    from cluster.articles.importer import batches_of, read_files
    from cluster.articles.incoming import TextLimits
    from cluster.errors import ConfigurationError, InvalidInput
    from cluster.scaleout.deployment import Deployment
    from cluster.settings import load_settings

    settings = load_settings()
    items = read_files(args.files, TextLimits.of(settings)) if args.files else []
    stop = threading.Event()
    # until the deployment runs, SIGTERM unwinds like Ctrl-C: whatever was started stops
    signal.signal(signal.SIGTERM, _interrupted)
    with ExitStack() as stack:
        if args.partitions < 1:
            raise InvalidInput("--partitions", "must be 1 or more")
        writers = args.partitions
        if args.local:
            nodes = args.nodes or args.embedders + writers
            if nodes < args.embedders + writers:
                raise ConfigurationError(
                    f"--nodes {nodes} gives {nodes} CPUs; {writers} writer(s) and "
                    f"{args.embedders} embedders need {args.embedders + writers}")
            settings, address = _local_services(stack, settings, nodes)
        else:
            address = args.ray_address or os.environ.get("RAY_ADDRESS", "")
            if not address or not settings.store_url.get_secret_value():
                raise ConfigurationError(
                    "scale-out needs a Ray cluster (--ray-address or RAY_ADDRESS) and a "
                    "PostgreSQL store (NEWSCLUSTERS_STORE_URL), or --local")
        deployment = Deployment(settings, args.embedders, embed_batch=args.embed_batch,
                                partitions=args.partitions)
        deployment.start(address)
        # after ray.init, which installs a SIGTERM handler that exits at once
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stack.callback(lambda: print(f"stopped: {deployment.stop()}"))
        print(f"started: {'the writer' if writers == 1 else f'{writers} partitions'} and "
              f"{args.embedders} embedding actors")
        try:
            _queue_and_follow(deployment, batches_of(items, min(args.batch_size,
                                                                 settings.max_batch)), stop)
            _print_store(settings)
            if args.exit_when_drained:
                return 0
            while not stop.wait(STATUS_EVERY_S):
                print(deployment.status(), flush=True)
        except KeyboardInterrupt:
            print("\nstopping: what is queued stays queued", file=sys.stderr)
    return 0


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _print_store(settings: Any) -> None:
    from cluster.store.postgres import PostgresStore

    store = PostgresStore(settings.store_location, read_only=True)
    try:
        with store.read() as reader:
            articles = reader.article_count()
            stories = reader.story_count(["active", "dormant", "archived"])
    finally:
        store.close()
    print(f"store holds {articles} articles in {stories} stories", flush=True)


def _queue_and_follow(deployment: Any, batches: list[list[Any]],
                      stop: threading.Event) -> None:
    """Queue the batches, then show clustering progress until the queue is empty."""
    with progress_bar("queue") as bar:
        bar.total = sum(len(batch) for batch in batches)
        for batch in batches:
            deployment.queue.enqueue(batch)
            bar.update(len(batch))
    with progress_bar("cluster") as bar:
        depth = deployment.depth()
        bar.total = depth.waiting + depth.embedded
        while not stop.is_set():
            depth = deployment.depth()
            bar.n = bar.total - depth.waiting - depth.embedded
            bar.refresh()
            if depth.waiting + depth.embedded == 0:
                return
            time.sleep(0.5)
