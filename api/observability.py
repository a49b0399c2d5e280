"""Request ids, one structured (JSON) log line per request, and ``/metrics`` in
the Prometheus text format: requests and latencies per endpoint, ingest
outcomes, store and index sizes, stories by status.

No client library: the exposition format is a few lines of text, and the
counters live in this process (the production server runs one process)."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import defaultdict

from flask import Blueprint, Flask, Response, current_app, g, request

from api.context import service

log = logging.getLogger("newsclusters.access")
bp = Blueprint("metrics", __name__)

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency_buckets: dict[tuple[str, str], list[int]] = defaultdict(
            lambda: [0] * len(BUCKETS))
        self.latency_sum: dict[tuple[str, str], float] = defaultdict(float)
        self.latency_count: dict[tuple[str, str], int] = defaultdict(int)
        self.ingested: dict[str, int] = defaultdict(int)

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(endpoint, method, status)] += 1
            key = (endpoint, method)
            buckets = self.latency_buckets[key]
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
            self.latency_sum[key] += seconds
            self.latency_count[key] += 1

    def count_ingest(self, statuses: list[str]) -> None:
        with self._lock:
            for status in statuses:
                self.ingested[status] += 1

    def render(self) -> str:
        lines = [
            "# HELP newsclusters_requests_total HTTP requests by endpoint, method and status.",
            "# TYPE newsclusters_requests_total counter",
        ]
        with self._lock:
            for (endpoint, method, status), n in sorted(self.requests.items()):
                lines.append(f'newsclusters_requests_total{{endpoint="{endpoint}",'
                             f'method="{method}",status="{status}"}} {n}')
            lines += ["# HELP newsclusters_request_seconds Request latency.",
                      "# TYPE newsclusters_request_seconds histogram"]
            for (endpoint, method), buckets in sorted(self.latency_buckets.items()):
                labels = f'endpoint="{endpoint}",method="{method}"'
                name = "newsclusters_request_seconds_bucket"
                for bound, n in zip(BUCKETS, buckets, strict=True):
                    lines.append(f'{name}{{{labels},le="{bound}"}} {n}')
                count = self.latency_count[(endpoint, method)]
                lines.append(f'newsclusters_request_seconds_bucket{{{labels},le="+Inf"}} {count}')
                lines.append(f"newsclusters_request_seconds_sum{{{labels}}} "
                             f"{self.latency_sum[(endpoint, method)]:.6f}")
                lines.append(f"newsclusters_request_seconds_count{{{labels}}} {count}")
            lines += ["# HELP newsclusters_ingested_articles_total Articles posted, by outcome.",
                      "# TYPE newsclusters_ingested_articles_total counter"]
            for outcome, total in sorted(self.ingested.items()):
                lines.append(f'newsclusters_ingested_articles_total{{status="{outcome}"}} {total}')
        return "\n".join(lines) + "\n"


METRICS_KEY = "newsclusters_metrics"
FEED_POLLER = "newsclusters_feed_poller"
"""Where an app that polls feeds in its own process keeps the poller."""


def metrics() -> Metrics:
    from flask import current_app

    found: Metrics = current_app.extensions[METRICS_KEY]
    return found


@bp.get("/metrics")
def scrape() -> Response:
    svc = service()
    ready = svc.readiness()
    counts = svc.story_counts()
    lines = [metrics().render(),
             "# HELP newsclusters_store_articles Articles in the store.",
             "# TYPE newsclusters_store_articles gauge",
             f"newsclusters_store_articles {ready.articles}",
             "# HELP newsclusters_index_vectors Vectors in the index.",
             "# TYPE newsclusters_index_vectors gauge",
             f"newsclusters_index_vectors {ready.indexed}",
             "# HELP newsclusters_stories Stories by status.",
             "# TYPE newsclusters_stories gauge"]
    lines += [f'newsclusters_stories{{status="{status}"}} {n}' for status, n in counts.items()]
    lines += [
        "# HELP newsclusters_snapshot_failures_total Index snapshots that could not be "
        "written (the writes they followed were stored).",
        "# TYPE newsclusters_snapshot_failures_total counter",
        f"newsclusters_snapshot_failures_total {ready.snapshot_failures}"]
    poller = current_app.extensions.get(FEED_POLLER)
    if poller is not None:
        lines += ["# HELP newsclusters_feed_poller_running 1 while the feed poller's loop runs.",
                  "# TYPE newsclusters_feed_poller_running gauge",
                  f"newsclusters_feed_poller_running {int(poller.running)}",
                  "# HELP newsclusters_feed_poller_failed_passes_total Polling passes that "
                  "failed as a whole (each is retried).",
                  "# TYPE newsclusters_feed_poller_failed_passes_total counter",
                  f"newsclusters_feed_poller_failed_passes_total {poller.failed_passes}"]
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")


def init_app(app: Flask) -> None:
    app.extensions[METRICS_KEY] = Metrics()
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
        metrics().observe(endpoint, request.method, response.status_code, seconds)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        log.info(json.dumps({
            "request_id": g.get("request_id"), "method": request.method,
            "path": request.path, "endpoint": endpoint, "status": response.status_code,
            "ms": round(seconds * 1000, 2),
        }))
        return response
