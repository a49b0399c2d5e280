"""One role's process, started by the supervisor (``api/roles/supervisor.py``):

    python -m api.roles.process writer --fd N --status FILE [--feeds SOURCES.toml]
    python -m api.roles.process reader --fd N --status FILE --writer-url URL

It serves the socket the supervisor bound (file descriptor N) until SIGTERM,
and ends itself if the supervisor is gone. Settings come from the
environment, as for every command."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

LOG = logging.getLogger("newsclusters")
OPEN_RETRY_S = 0.5
"""How often a reader retries a store its writer has not created yet."""


def _watch_parent(parent: int) -> None:
    """End this role when the supervisor is gone (SIGKILL leaves no one to stop it)."""

    def loop() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=loop, name="parent-watch", daemon=True).start()


def _open_reader(settings: Any) -> Any:
    from cluster.service import StoryService
    from cluster.store.sqlite import StoreNotReady

    while True:
        try:
            return StoryService.reader(settings).open()
        except StoreNotReady as exc:  # the writer is creating or migrating it
            LOG.info("reader: waiting for the writer (%s)", exc)
            time.sleep(OPEN_RETRY_S)


def run_role(args: argparse.Namespace) -> None:
    from api import create_app
    from api.observability import FEED_POLLER, multiprocess_dir, start_refreshing
    from api.serving import make_server, run_until_stopped, start_maintenance
    from cluster.service import StoryService
    from cluster.settings import load_settings

    settings = load_settings()
    listening = socket.socket(fileno=args.fd)
    if args.role == "writer":
        os.nice(settings.writer_nice)  # bulk work yields the cores to readers' queries
        service = StoryService(settings).open()
    else:
        service = _open_reader(settings)
        if settings.embedder == "sentence-transformers":
            import torch

            # a reader embeds one short query at a time: one thread each keeps
            # the readers and the writer from oversubscribing the cores
            torch.set_num_threads(1)
    try:
        service.embedder.embed(["warm"])  # ready means the model is loaded
        if args.role == "writer":
            if settings.clock == "wall":
                start_maintenance(service)
            app = create_app(service=service, role="writer")
            if args.feeds is not None:
                from cluster.cli.serving import start_feeds

                app.extensions[FEED_POLLER] = start_feeds(service, args.feeds)
        elif settings.writes == "queue":
            from cluster.scaleout.queue import IngestQueue

            app = create_app(service=service, role="reader", write_queue=IngestQueue(
                settings.store_location, f"newsclusters reader {os.getpid()}"))
        else:
            app = create_app(service=service, role="reader", writer_url=args.writer_url)
        app.config.update(ROLES_STATUS=args.status, WRITER_URL=args.writer_url,
                          PID=os.getpid())
        if multiprocess_dir() is not None:
            start_refreshing(app)
        server = make_server(app, settings, "", 0, sockets=[listening])
        # the supervisor reports this role ready from now on (see Supervisor.step)
        (args.status.parent / "ready" / str(os.getpid())).touch()
        run_until_stopped(server, service, f"{args.role} (pid {os.getpid()}) serving",
                          interruptible=False)
    finally:
        service.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.roles.process")
    parser.add_argument("role", choices=["writer", "reader"])
    parser.add_argument("--fd", type=int, required=True, help="the listening socket")
    parser.add_argument("--status", type=Path, required=True, help="the roles' status file")
    parser.add_argument("--writer-url", default=None)
    parser.add_argument("--feeds", type=Path, default=None)
    args = parser.parse_args(argv)
    from cluster.cli.common import quiet_libraries

    quiet_libraries()
    # the supervisor stops the roles (readers first); a terminal's Ctrl-C reaches
    # the whole process group, so the roles leave it to the supervisor
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watch_parent(os.getppid())
    try:
        run_role(args)
    except SystemExit as exc:  # SIGTERM: stopped cleanly
        return int(exc.code or 0)
    except Exception as exc:
        from cluster.errors import ClusterError

        if isinstance(exc, ClusterError):
            print(f"error: {args.role}: {exc}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
