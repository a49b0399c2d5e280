"""The writer's side of the queue: take the oldest accepted batch once it is
embedded, cluster it as one ingest batch with the vectors the workers
computed, and only then remove it from the queue (see ``queue.py`` for why
that is exactly once, and the same stories whatever the timing)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cluster.embedding.known import KnownVectors
from cluster.errors import InvalidInput, NotFound
from cluster.scaleout.queue import Embedded, IngestQueue
from cluster.service.facade import StoryService

LOG = logging.getLogger(__name__)

IDLE_WAIT_S = 0.1


@dataclass
class Consumed:
    clustered: int = 0
    refused: int = 0
    """Articles the service refused as invalid (logged with their reason), removed from
    the queue."""
    embedded_here: int = 0
    """Texts the writer embedded itself: no worker's vector matched its model."""
    deleted: int = 0


class QueueConsumer:
    def __init__(self, service: StoryService, queue: IngestQueue) -> None:
        self.service = service
        self.queue = queue
        self.totals = Consumed()

    def consume_some(self) -> int:
        """Cluster the oldest batch if it is embedded; how many articles left the queue."""
        run = self.queue.next_batch()
        if not run:
            return 0
        if run[0].deleted is not None:  # a deletion is a batch of its own
            self._delete(run)
            self.queue.acknowledge([item.seq for item in run])
            return len(run)
        ingest_run(self.service, run, self.totals)
        self.queue.acknowledge([item.seq for item in run])
        return len(run)

    def _delete(self, run: list[Embedded]) -> None:
        delete_articles(self.service, [item.deleted for item in run if item.deleted],
                        self.totals)

    def run(self, stop: threading.Event) -> Consumed:
        """Consume until ``stop`` is set."""
        keep_going(stop, self.consume_some, "queue: a batch failed; retrying")
        return self.totals

def ingest_run(service: StoryService, run: list[Embedded], totals: Consumed) -> None:
    """Cluster a run of queued articles as one batch with their vectors. An
    article the service refuses is logged and counted, and the rest go on:
    one bad article must not hold back the queue (anything else, a store
    gone, is raised, and the run retried whole)."""
    try:
        _ingest(service, run, totals)
    except InvalidInput:
        for item in run:
            try:
                _ingest(service, [item], totals)
            except InvalidInput as error:
                LOG.error("queue: article %r refused, removed from the queue: %s",
                          item.article.id, error)
                totals.refused += 1


def _ingest(service: StoryService, run: list[Embedded], totals: Consumed) -> None:
    vectors = KnownVectors(service.embedder, {item.embed_hash: item.vector for item in run})
    prepared = service.prepare([item.article for item in run], vectors)
    service.ingest_prepared(prepared)
    totals.clustered += len(run)
    totals.embedded_here += vectors.computed_here


def delete_articles(service: StoryService, article_ids: list[str], totals: Consumed) -> None:
    """Queued deletions, in order; one not stored (deleted already, or never
    stored) has nothing to do."""
    for article_id in article_ids:
        try:
            service.delete_article(article_id)
            totals.deleted += 1
        except NotFound:
            LOG.info("queue: article %r to delete is not stored", article_id)


def keep_going(stop: threading.Event, step: Callable[[], int], failure: str,
               idle_wait_s: float = IDLE_WAIT_S) -> None:
    """Call ``step`` until ``stop`` is set, pausing ``idle_wait_s`` while it has
    nothing to do (it answers 0); a failure is logged and the step tried again
    a second later."""
    while not stop.is_set():
        try:
            if step() == 0:
                stop.wait(idle_wait_s)
        except Exception:
            LOG.exception(failure)
            stop.wait(1.0)
