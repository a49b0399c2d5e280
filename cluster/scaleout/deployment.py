"""Starting, watching and stopping the scale-out deployment on a Ray cluster
(the driver's side): the writer and N embedding actors, named in the
``newsclusters`` namespace, each restarted by Ray when it dies."""

from __future__ import annotations

import time
from typing import Any

from cluster.errors import ConfigurationError
from cluster.scaleout.actors import EmbeddingActor, WriterActor, settings_values
from cluster.scaleout.local_ray import is_loopback, keep_on_loopback
from cluster.scaleout.queue import Depth, IngestQueue

NAMESPACE = "newsclusters"
WRITER = "writer"


class Deployment:
    def __init__(self, settings: Any, embedders: int, *, embed_batch: int = 64,
                 embedder_cpus: float = 1.0,
                 start_timeout_s: float = 300.0) -> None:
        self.settings = settings
        self.embedder_count = embedders
        self.embed_batch = embed_batch
        self.embedder_cpus = embedder_cpus
        self.start_timeout_s = start_timeout_s
        """How long the actors may take to be placed and to load."""
        self.queue = IngestQueue(settings.store_location, "newsclusters driver")
        self.writer: Any = None
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
        writer_class = ray.remote(WriterActor).options(
            name=WRITER, num_cpus=1, **restartable)
        self.writer = writer_class.remote(values)
        embedder_class = ray.remote(EmbeddingActor)
        self.embedders = [
            embedder_class.options(name=f"embedder-{n}", num_cpus=self.embedder_cpus,
                                   **restartable).remote(values, f"embedder-{n}",
                                                         self.embed_batch)
            for n in range(self.embedder_count)]
        needed = 1 + self.embedder_count * self.embedder_cpus
        available = float(ray.cluster_resources().get("CPU", 0))  # type: ignore[no-untyped-call]
        try:
            ray.get([a.status.remote() for a in [self.writer, *self.embedders]],
                    timeout=self.start_timeout_s)
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

    def status(self) -> dict[str, Any]:
        import ray

        writer = ray.get(self.writer.status.remote())  # the writer created the queue
        embedders = ray.get([a.status.remote() for a in self.embedders])
        depth = self.queue.depth()
        return {"writer": writer, "embedders": embedders,
                "queue": {"waiting": depth.waiting, "embedded": depth.embedded}}

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
        writer: Any = None
        try:
            embedded = ray.get([a.stop.remote() for a in self.embedders], timeout=timeout)
            writer = ray.get(self.writer.stop.remote(), timeout=timeout)
        except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError):
            pass  # killed below
        for actor in [*self.embedders, self.writer]:
            ray.kill(actor, no_restart=True)
        self.queue.close()
        return {"writer": writer, "embedded": embedded}
