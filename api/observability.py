"""Request ids, one structured (JSON) log line per request, and ``/metrics``
in the Prometheus text format, by ``prometheus-client``: requests and
latencies per endpoint, ingest outcomes, store and index sizes, stories by
status, and per-role gauges (the embedding queue, requests waiting for the
writer, how far a reader is behind the writer).

With several processes (the roles, see ``api/roles``) the supervisor sets
``PROMETHEUS_MULTIPROC_DIR``: every process writes its counters to its own
memory-mapped files there, and whichever reader answers a scrape adds them
up (``MultiProcessCollector``); each process's gauges are refreshed twice a
second by a small thread. The store's figures are read at scrape time by
the answering process (every process sees the same store). With one
process the same metrics live in the app's own registry."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request

from api.context import service, write_queue

log = logging.getLogger("newsclusters.access")
bp = Blueprint("metrics", __name__)

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SEQ_HEADER = "X-Store-Seq"
"""On a write's response: the store sequence that includes it (see api/roles/forwarding.py)."""
FORWARDED = "X-Newsclusters-Forwarded"
"""Set by a reader on the write it passes to the writer: the reader logs it."""


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """This process's metrics. Created once per app; in multiprocess mode the
    values go to the shared directory whatever registry holds them."""

    def __init__(self, role: str) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            disable_created_metrics,
        )

        # the *_created series say nothing a scraper needs
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.role = role
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "newsclusters_requests", "HTTP requests by endpoint, method and status.",
            ["endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "newsclusters_request_seconds", "Request latency.", ["endpoint", "method"],
            buckets=BUCKETS, registry=self.registry)
        self.ingested = Counter(
            "newsclusters_ingested_articles", "Articles posted, by outcome.", ["status"],
            registry=self.registry)
        self.embedding_waiting = Gauge(
            "newsclusters_embedding_waiting", "Embedding calls waiting for a model, by role.",
            ["role"], multiprocess_mode="livesum", registry=self.registry)
        self.write_waiting = Gauge(
            "newsclusters_write_waiting", "Writes waiting for the writer's lock.",
            multiprocess_mode="livesum", registry=self.registry)
        self.reader_behind = Gauge(
            "newsclusters_reader_behind", "Index log entries the most lagging reader has not "
            "replayed yet.", multiprocess_mode="livemax", registry=self.registry)
        self.reader_lag = Gauge(
            "newsclusters_reader_lag_seconds", "Seconds since the most lagging reader last "
            "caught up with the store.", multiprocess_mode="livemax", registry=self.registry)
        self.processes = Gauge(
            "newsclusters_processes", "Serving processes by role.", ["role"],
            multiprocess_mode="livesum", registry=self.registry)
        self.processes.labels(role).set(1)

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint, method).observe(seconds)

    def count_ingest(self, statuses: list[str]) -> None:
        for status in statuses:
            self.ingested.labels(status).inc()

    def refresh(self, svc: Any) -> None:
        """This process's gauges from its service."""
        self.embedding_waiting.labels(self.role).set(
            getattr(svc.embedder, "waiting", 0) if svc.is_open else 0)
        if svc.follower is not None:
            self.reader_behind.set(svc.follower.behind())
            self.reader_lag.set(round(svc.follower.lag_seconds(), 3))
        elif svc.is_open and not svc.read_only:
            self.write_waiting.set(svc.write_waiting())


class StoreFigures:
    """A collector of what the store holds, read when scraped."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        with self._app.app_context():
            svc = service()
            ready = svc.readiness()
            counts = svc.story_counts()
            poller = current_app.extensions.get(FEED_POLLER)
            queue = write_queue()
            depth = None
            if queue is not None:
                try:
                    depth = queue.depth()
                except Exception:  # an unreachable store: the scrape still answers
                    logging.getLogger("newsclusters").warning(
                        "metrics: the ingest queue could not be read")
        yield GaugeMetricFamily("newsclusters_store_articles", "Articles in the store.",
                                value=ready.articles)
        yield GaugeMetricFamily("newsclusters_index_vectors",
                                "Vectors in the answering process's index.", value=ready.indexed)
        stories = GaugeMetricFamily("newsclusters_stories", "Stories by status.",
                                    labels=["status"])
        for status, n in counts.items():
            stories.add_metric([status], n)
        yield stories
        if ready.role != "reader":  # a reader does not write snapshots
            yield CounterMetricFamily(
                "newsclusters_snapshot_failures", "Index snapshots that could not be written "
                "(the writes they followed were stored).", value=ready.snapshot_failures)
        if depth is not None:
            queued = GaugeMetricFamily(
                "newsclusters_queue_articles", "Articles in the scale-out ingest queue: "
                "waiting for an embedding worker, or embedded and waiting for the writer.",
                labels=["state"])
            queued.add_metric(["waiting"], depth.waiting)
            queued.add_metric(["embedded"], depth.embedded)
            yield queued
        if poller is not None:
            yield GaugeMetricFamily("newsclusters_feed_poller_running",
                                    "1 while the feed poller's loop runs.",
                                    value=int(poller.running))
            yield CounterMetricFamily(
                "newsclusters_feed_poller_failed_passes", "Polling passes that failed as a "
                "whole (each is retried).", value=poller.failed_passes)


METRICS_KEY = "newsclusters_metrics"
FEED_POLLER = "newsclusters_feed_poller"
"""Where an app that polls feeds in its own process keeps the poller."""


def metrics() -> Metrics:
    found: Metrics = current_app.extensions[METRICS_KEY]
    return found


@bp.get("/metrics")
def scrape() -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    mine = metrics()
    mine.refresh(service())
    registry = mine.registry
    shared = multiprocess_dir()
    if shared is not None:  # every process's files, not this process's registry
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
    text = generate_latest(registry)
    figures = CollectorRegistry()
    figures.register(StoreFigures(current_app._get_current_object()))  # type: ignore[attr-defined]
    return Response(text + generate_latest(figures), mimetype=CONTENT_TYPE_LATEST)


def start_refreshing(app: Flask, every: float = 0.5) -> None:
    """Keep this process's gauges current for scrapes another process answers."""
    mine: Metrics = app.extensions[METRICS_KEY]

    def loop() -> None:
        while True:
            time.sleep(every)
            with app.app_context():
                try:
                    mine.refresh(service())
                except Exception:  # a closed service at shutdown; the next round retries
                    log.debug("metrics refresh failed", exc_info=True)

    threading.Thread(target=loop, name="metrics", daemon=True).start()


def init_app(app: Flask, role: str = "all") -> None:
    app.extensions[METRICS_KEY] = Metrics(role)
    app.register_blueprint(bp)

    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if role == "writer" and request.headers.get(FORWARDED):
            return response  # the reader that passed it on counts and logs it
        metrics().observe(endpoint, request.method, response.status_code, seconds)
        log.info(json.dumps({
            "request_id": g.get("request_id"), "method": request.method,
            "path": request.path, "endpoint": endpoint, "status": response.status_code,
            "ms": round(seconds * 1000, 2),
        }))
        return response
