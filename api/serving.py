"""The production server: waitress in front of the app.

Why waitress: a request is read whole (line, headers and body, up to the
limits) by one I/O thread that multiplexes every connection, and only a
complete request is handed to one of ``threads`` worker threads. A client
that connects and stalls, or sends its body a byte at a time, costs a
buffer, never a worker: the server keeps answering (``/healthz`` included)
however many such clients it holds, up to ``connection_limit``, and drops
each after ``client_timeout_s`` without activity. A thread-per-connection
server (gunicorn's gthread worker) parks a worker on every stalled client,
and eight of them stopped every request; a greenlet worker would serialise
the service's own threads, FAISS and SQLite behind one event loop.

``serve`` is the one-process server (``readers`` = 0); with readers, each
role's process serves through ``make_server`` and ``run_until_stopped``
(see ``api/roles``). SIGTERM and Ctrl-C stop accepting, give requests in
flight ``GRACE_SECONDS`` to finish (a write in progress commits or rolls
back whole), write an index snapshot (a writing process) and exit.
The server's own refusals (a request line or headers too large, a body past
its buffer) are problem+json like the application's.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
import time
from types import FrameType
from typing import Any

from cluster.settings import Settings

LOG = logging.getLogger("newsclusters")
GRACE_SECONDS = 30
"""How long requests in flight may take to finish after SIGTERM."""
MAINTENANCE_SECONDS = 60.0
"""How often stories are aged on the wall clock when nothing is ingested."""


def start_maintenance(service: Any, every: float = MAINTENANCE_SECONDS) -> None:
    """On the wall clock, stories age even when nothing is ingested."""

    def loop() -> None:
        while True:
            time.sleep(every)
            try:
                service.maintain()
            except Exception:  # keep serving; the next round retries
                LOG.exception("maintenance failed")

    threading.Thread(target=loop, name="maintenance", daemon=True).start()


def _problem_response(error: Any, ident: str | None = None) -> tuple[str, list[tuple[str, str]],
                                                                      bytes]:
    """waitress's own error answers (``waitress.utilities.Error``) as RFC 9457
    problem+json, the shape of every other error of the service."""
    field = "body" if error.code in (413,) else "request"
    body = {"type": f"/problems/http-{error.code}", "title": error.reason,
            "status": error.code, "detail": str(error.body), "instance": None,
            "field": field, "errors": [{"field": field, "message": str(error.body)}]}
    return (f"{error.code} {error.reason}",
            [("Content-Type", "application/problem+json")], json.dumps(body).encode())


def make_server(app: Any, settings: Settings, host: str, port: int,
                sockets: list[socket.socket] | None = None) -> Any:
    """waitress around ``app``, on ``sockets`` when given (a reader serving
    the socket its supervisor bound), else on host:port."""
    import waitress.utilities
    from waitress.server import create_server

    waitress.utilities.Error.to_response = _problem_response
    where: dict[str, Any] = {"sockets": sockets} if sockets else {"host": host, "port": port}
    return create_server(
        app, threads=settings.threads, connection_limit=settings.connection_limit,
        channel_timeout=settings.client_timeout_s,
        cleanup_interval=max(1, min(30, settings.client_timeout_s // 2)),
        # the body limit is the application's (a 413 problem naming the field);
        # waitress's own only stops what the application would refuse anyway
        max_request_body_size=2 * settings.max_body_bytes,
        ident="newsclusters", expose_tracebacks=False, asyncore_use_poll=True, **where)


def run_until_stopped(server: Any, service: Any, what: str, interruptible: bool = True) -> None:
    """Serve until SIGTERM (or Ctrl-C when ``interruptible``); then let
    requests in flight finish and, for a writing service, write an index
    snapshot."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    if interruptible:  # even where a shell started the server with SIGINT ignored
        signal.signal(signal.SIGINT, signal.default_int_handler)
    LOG.info("%s", what)
    try:
        server.run()
    finally:
        server.task_dispatcher.shutdown(cancel_pending=False, timeout=GRACE_SECONDS)
        if not service.read_only:
            service.snapshot()


def serve(settings: Settings) -> None:
    """Serve from this one process until SIGTERM or Ctrl-C (``readers`` = 0;
    with readers the supervisor runs the roles, see ``api/roles``)."""
    from api import create_app
    from cluster.service import StoryService

    service = StoryService(settings).open()
    try:
        service.embedder.embed(["warm"])  # ready means the model is loaded
        if settings.clock == "wall":
            start_maintenance(service)
        app = create_app(service=service)
        server = make_server(app, settings, settings.host, settings.port)
        run_until_stopped(server, service, (
            f"serving on http://{settings.host}:{settings.port}/ ({settings.threads} threads, "
            f"up to {settings.connection_limit} connections, one process)"))
    finally:
        service.close()
