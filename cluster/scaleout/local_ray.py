"""A Ray cluster of several nodes on the local machine, on loopback only: for the
tests and for trying the scale-out deployment on a laptop.

Each node's CPUs, memory and object store are set explicitly (a node
otherwise claims all of the machine's memory); no dashboard, no usage
statistics, temporary files under ``folder`` (``RAY_TMPDIR``), and a head
port outside 10002-19999, where Ray's own worker ports lie.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cluster.store.local_postgres import free_port

GIB = 1024 ** 3


def keep_on_loopback() -> None:
    """Ray on the local machine only. Ray rewrites a loopback address into the
    machine's outward one unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` is 0, and
    reads that variable once, when ``ray`` is first imported; so the variable is
    set for the processes Ray starts, and the value Ray already read is
    corrected in this one."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray._private.ray_constants as constants

    constants.ENABLE_RAY_CLUSTER = False


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def _head_port() -> int:
    while True:
        port = free_port()
        if not 10002 <= port <= 19999:
            return port


class LocalRay:
    def __init__(self, folder: Path, nodes: int = 3, cpus_per_node: int = 1,
                 memory_per_node: int = 2 * GIB, object_store_per_node: int = 128 * 1024 ** 2,
                 ) -> None:
        self.folder = folder
        self.nodes = nodes
        self.node_args: dict[str, Any] = {
            "num_cpus": cpus_per_node, "memory": memory_per_node,
            "object_store_memory": object_store_per_node, "node_ip_address": "127.0.0.1",
        }
        self._cluster: Any = None

    @property
    def address(self) -> str:
        if self._cluster is None:
            raise RuntimeError("the local Ray cluster is not started")
        return str(self._cluster.address)

    def start(self) -> LocalRay:
        os.environ["RAY_TMPDIR"] = str(self.folder)
        keep_on_loopback()
        self.folder.mkdir(parents=True, exist_ok=True)
        from ray.cluster_utils import Cluster

        self._cluster = Cluster(initialize_head=True, head_node_args={
            **self.node_args, "include_dashboard": False, "gcs_server_port": _head_port()})
        for _ in range(self.nodes - 1):
            self._cluster.add_node(**self.node_args)
        self._cluster.wait_for_nodes()
        return self

    def stop(self) -> None:
        import ray

        ray.shutdown()
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = None
