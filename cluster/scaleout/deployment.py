"""Starting, watching and stopping the scale-out deployment on a Ray cluster
(the driver's side): the writer (or, with partitions, a coordinator and P
partitions) and N embedding actors, named in the ``newsclusters``
namespace, each restarted by Ray when it dies."""

from __future__ import annotations

import time
from typing import Any

from cluster.errors import ConfigurationError
from cluster.scaleout.actors import (
    CoordinatorActor,
    EmbeddingActor,
    PartitionActor,
    WriterActor,
    settings_values,
)
from cluster.scaleout.local_ray import is_loopback, keep_on_loopback
from cluster.scaleout.queue import Depth, IngestQueue

NAMESPACE = "newsclusters"
WRITER = "writer"


class Deployment:
    def __init__(self, settings: Any, embedders: int, *, embed_batch: int = 64,
                 embedder_cpus: float = 1.0, partitions: int = 1,
                 start_timeout_s: float = 300.0) -> None:
        """``partitions``: 1 runs one writer; more run a partitioned writer
        (cluster/scaleout/partitions.py)."""
        if partitions < 1:
            raise ConfigurationError("--partitions must be 1 or more")
        self.settings = settings
        self.partitions = partitions
        self.embedder_count = embedders
        self.embed_batch = embed_batch
        self.embedder_cpus = embedder_cpus
        self.start_timeout_s = start_timeout_s
        """How long the actors may take to be placed and to load."""
        self.queue = IngestQueue(settings.store_location, "newsclusters driver")
        self.writer: Any = None
        self.coordinator: Any = None
        self.partition_actors: list[Any] = []
        self.embedders: list[Any] = []

    def start(self, address: str) -> Deployment:
        """Connect to the Ray cluster at ``address`` and start every actor; returns
        once each has loaded (the writer its store, each embedder its model)."""
        import ray

        if not ray.is_initialized():
            if is_loopback(address):
                keep_on_loopback()
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
        values = settings_values(self.settings)
        restartable: dict[str, Any] = {"max_restarts": -1, "max_task_retries": -1}
        if self.partitions == 1:
            self.writer = ray.remote(WriterActor).options(
                name=WRITER, num_cpus=1, **restartable).remote(values)
        else:
            # the coordinator works only between batches: it shares a CPU
            self.coordinator = ray.remote(CoordinatorActor).options(
                name="coordinator", num_cpus=0, **restartable).remote(values, self.partitions)
            partition_class = ray.remote(PartitionActor)
            self.partition_actors = [
                partition_class.options(name=f"partition-{n}", num_cpus=1,
                                        **restartable).remote(values, n)
                for n in range(self.partitions)]
        embedder_class = ray.remote(EmbeddingActor)
        self.embedders = [
            embedder_class.options(name=f"embedder-{n}", num_cpus=self.embedder_cpus,
                                   **restartable).remote(values, f"embedder-{n}",
                                                         self.embed_batch)
            for n in range(self.embedder_count)]
        needed = self.partitions + self.embedder_count * self.embedder_cpus
        available = float(ray.cluster_resources().get("CPU", 0))  # type: ignore[no-untyped-call]
        try:
            ray.get([a.status.remote() for a in self._actors()], timeout=self.start_timeout_s)
        except ray.exceptions.RayActorError as error:  # its constructor raised
            self.stop(timeout=10.0)
            cause = str(error).strip().splitlines()[-1] if str(error).strip() else "no reason"
            raise ConfigurationError(f"an actor could not start: {cause}") from None
        except ray.exceptions.GetTimeoutError:
            self.stop(timeout=10.0)
            raise ConfigurationError(
                f"the actors did not start within {self.start_timeout_s:g} s: they need "
                f"{needed:g} CPUs and the Ray cluster has {available:g} (add nodes, or "
                "fewer --embedders)") from None
        return self

    def _writers(self) -> list[Any]:
        return [self.writer] if self.writer is not None else [
            self.coordinator, *self.partition_actors]

    def _actors(self) -> list[Any]:
        return [*self._writers(), *self.embedders]

    def status(self) -> dict[str, Any]:
        import ray

        embedders = ray.get([a.status.remote() for a in self.embedders])
        depth = self.queue.depth()
        found: dict[str, Any] = {"embedders": embedders,
                                 "queue": {"waiting": depth.waiting, "embedded": depth.embedded}}
        if self.writer is not None:
            found["writer"] = ray.get(self.writer.status.remote())
        else:
            found["coordinator"] = ray.get(self.coordinator.status.remote())
            found["partitions"] = ray.get([a.status.remote() for a in self.partition_actors])
        return found

    def depth(self) -> Depth:
        return self.queue.depth()

    def wait_until_drained(self, timeout: float) -> bool:
        """True once nothing is waiting in the queue (every article clustered)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            depth = self.queue.depth()
            if depth.waiting == 0 and depth.embedded == 0:
                return True
            time.sleep(0.2)
        return False

    def stop(self, timeout: float = 180.0) -> dict[str, Any]:
        """Stop every actor after the batch it is working on; one that does not
        answer within ``timeout`` (never placed, or hung) is killed."""
        import ray

        embedded: list[Any] = []
        writers: list[Any] = []
        try:
            embedded = ray.get([a.stop.remote() for a in self.embedders], timeout=timeout)
            writers = ray.get([a.stop.remote() for a in self._writers()], timeout=timeout)
        except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError):
            pass  # killed below
        for actor in self._actors():
            ray.kill(actor, no_restart=True)
        self.queue.close()
        if self.writer is not None:
            return {"writer": writers[0] if writers else None, "embedded": embedded}
        return {"coordinator": writers[0] if writers else None, "partitions": writers[1:],
                "embedded": embedded}
