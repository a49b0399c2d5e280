"""The Ray actors of the scale-out deployment.

Each actor starts its loop in a thread of its own when it is created, so an
actor that Ray restarts after a crash (``max_restarts=-1``) goes back to work
without anyone calling it: nothing in the data path is an actor call. Calls
are only for health, figures and stopping.

- ``EmbeddingActor``: loads the model once, then embeds queued articles.
- ``WriterActor``: the one writer. It opens the service on the PostgreSQL
  store, which takes the store's advisory lock: a restarted writer waits
  until its predecessor's connection is gone, so two can never write at once.
- ``PartitionActor`` and ``CoordinatorActor``: a partitioned writer instead
  (see ``partitions.py``), each role under its own lock in the same way.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from cluster.errors import ConfigurationError

LOG = logging.getLogger(__name__)

LOCK_WAIT_S = 120.0
"""How long a restarted writer waits for its predecessor's connection to end."""


def settings_values(settings: Any) -> dict[str, Any]:
    """Settings as plain values that an actor rebuilds them from (secrets included:
    they travel inside the cluster, never into a log)."""
    values: dict[str, Any] = settings.model_dump(mode="json")
    # an actor's working folder is Ray's: relative folders mean the driver's
    values["data_dir"] = str(settings.data_dir.resolve())
    values["index_dir"] = str(settings.index_dir.resolve())
    values["store_url"] = settings.store_url.get_secret_value()
    values["api_keys"] = settings.api_keys.get_secret_value()
    return values


def _settings(values: dict[str, Any]) -> Any:
    from cluster.settings import load_settings

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever downloaded
    return load_settings(values, environ={})


class EmbeddingActor:
    def __init__(self, values: dict[str, Any], name: str, batch: int) -> None:
        from cluster.embedding.models import create_embedder
        from cluster.scaleout.embedding_worker import EmbeddingWorker
        from cluster.scaleout.queue import IngestQueue

        settings = _settings(values)
        self.name = name
        self._stop = threading.Event()
        self._worker = EmbeddingWorker(
            IngestQueue(settings.store_location, f"newsclusters {name}"),
            create_embedder(settings), settings.lead_chars, name, batch=batch)
        self._thread = threading.Thread(target=self._worker.run, args=(self._stop,),
                                        name=name, daemon=True)
        self._thread.start()

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "pid": os.getpid(), "embedded": self._worker.embedded,
                "running": self._thread.is_alive()}

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(60)
        self._worker.queue.close()
        return self._worker.embedded


class WriterActor:
    def __init__(self, values: dict[str, Any]) -> None:
        from cluster.scaleout.consumer import QueueConsumer
        from cluster.scaleout.queue import IngestQueue
        from cluster.service.facade import StoryService

        settings = _settings(values)
        if not settings.store_url.get_secret_value():
            raise ConfigurationError("the scale-out writer needs store_url (PostgreSQL)")
        self._service = _open_when_free(lambda: StoryService(settings).open())
        self._stop = threading.Event()
        self._consumer = QueueConsumer(
            self._service, IngestQueue(settings.store_location, "newsclusters writer queue"))
        self._thread = threading.Thread(target=self._consumer.run, args=(self._stop,),
                                        name="writer", daemon=True)
        self._thread.start()

    def status(self) -> dict[str, Any]:
        totals = self._consumer.totals
        return {"pid": os.getpid(), "clustered": totals.clustered, "refused": totals.refused,
                "embedded_here": totals.embedded_here, "running": self._thread.is_alive()}

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(120)
        status = self.status()
        self._consumer.queue.close()
        self._service.close()
        return status


def _open_when_free(opening: Any) -> Any:
    """``opening()``, retried while a predecessor's connection still holds the
    lock (a restarted actor), for up to ``LOCK_WAIT_S``."""
    from cluster.store.lock import StoreInUse

    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            return opening()
        except StoreInUse:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class CoordinatorActor:
    def __init__(self, values: dict[str, Any], partitions: int) -> None:
        from cluster.scaleout.coordinator import Coordinator
        from cluster.scaleout.partitions import PartitionLedger
        from cluster.scaleout.queue import IngestQueue

        settings = _settings(values)
        url = settings.store_location
        self._coordinator = _open_when_free(lambda: Coordinator(
            settings, partitions, IngestQueue(url, "newsclusters coordinator queue"),
            PartitionLedger(url, "newsclusters coordinator ledger")))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._coordinator.run, args=(self._stop,),
                                        name="coordinator", daemon=True)
        self._thread.start()

    def status(self) -> dict[str, Any]:
        return {"pid": os.getpid(), **self._coordinator.status(),
                "planned": self._coordinator.plan is not None,
                "running": self._thread.is_alive()}

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(120)
        status = self.status()
        self._coordinator.queue.close()
        self._coordinator.ledger.close()
        self._coordinator.close()
        return status


class PartitionActor:
    """One partition: it waits for the coordinator's routing plan (and for
    every live story to have an owner), opens the service as that partition,
    and consumes the queue."""

    def __init__(self, values: dict[str, Any], index: int) -> None:
        from cluster.scaleout.partitions import PartitionLedger
        from cluster.scaleout.queue import IngestQueue

        self._settings = _settings(values)
        self.index = index
        url = self._settings.store_location
        self._ledger = PartitionLedger(url, f"newsclusters partition-{index} ledger")
        self._queue = IngestQueue(url, f"newsclusters partition-{index} queue")
        self._consumer: Any = None
        self._service: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"partition-{index}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from cluster.scaleout.partitions import PartitionConsumer
        from cluster.scaleout.routing import Share
        from cluster.service.facade import StoryService

        while (plan := self._ledger.settled_plan()) is None:  # the coordinator makes it
            if self._stop.wait(0.2):
                return
        share = Share(self.index, plan)
        self._service = _open_when_free(
            lambda: StoryService(self._settings, share=share).open())
        self._consumer = PartitionConsumer(self._service, self._queue, self._ledger, share)
        self._consumer.run(self._stop)

    def status(self) -> dict[str, Any]:
        consumer = self._consumer
        return {"partition": self.index, "pid": os.getpid(),
                "clustered": 0 if consumer is None else consumer.totals.clustered,
                "refused": 0 if consumer is None else consumer.totals.refused,
                "batches": 0 if consumer is None else consumer.batches,
                "waited_s": 0.0 if consumer is None else round(consumer.waited_s, 1),
                "running": self._thread.is_alive()}

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(120)
        status = self.status()
        self._queue.close()
        self._ledger.close()
        if self._service is not None:
            self._service.close()
        return status
