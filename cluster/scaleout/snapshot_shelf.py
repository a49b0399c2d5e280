"""Index snapshots published in the PostgreSQL store, so that readers on
machines other than the writer's map the writer's index instead of
rebuilding it from every stored vector.

The writer publishes each snapshot it writes (``publish``: the snapshot's
index.bin in parts, in one transaction, keeping the newest ``KEEP``). A
reader in queue mode (``writes = queue``) installs the newest published
snapshot into its own ``index_dir`` when it starts and whenever a newer one
appears (``fetch``, verified against the manifest's checksum, under a file
lock so that the reader processes of one machine fetch it once); it then
maps it as it would the writer's own and replays the store's index log past
it: a sealed, memory-mapped index and a growing tail.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.index.snapshot import DamagedSnapshot, Manifest, install_snapshot, read_manifest

if TYPE_CHECKING:
    import psycopg

LOG = logging.getLogger(__name__)

PART_BYTES = 32 * 1024 * 1024
KEEP = 2
"""Published snapshots kept: a reader fetching the newest never loses it mid-way."""


class SnapshotShelf:
    def __init__(self, url: str) -> None:
        self.url = url

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=10,
                               application_name="newsclusters snapshots")

    def publish(self, index_dir: Path) -> Manifest | None:
        """Publish ``index_dir``'s current snapshot, unless it already is."""
        from psycopg.types.json import Jsonb

        found = read_manifest(index_dir)
        if found is None:
            return None
        folder, manifest = found
        with self._connect() as connection:
            if connection.execute("SELECT 1 FROM index_snapshots WHERE name = %s",
                                  (folder.name,)).fetchone():
                return manifest
            with connection.transaction():
                row = connection.execute(
                    "INSERT INTO index_snapshots (name, store_seq, manifest, published_at) "
                    "VALUES (%s, %s, %s, %s) RETURNING id",
                    (folder.name, manifest.store_seq, Jsonb(asdict(manifest)),
                     time.time())).fetchone()
                assert row is not None
                with open(folder / "index.bin", "rb") as handle:
                    for part, data in enumerate(iter(lambda: handle.read(PART_BYTES), b"")):
                        connection.execute(
                            "INSERT INTO index_snapshot_parts (snapshot_id, part, data) "
                            "VALUES (%s, %s, %s)", (row[0], part, data))
                connection.execute(
                    "DELETE FROM index_snapshots WHERE id NOT IN ("
                    "SELECT id FROM index_snapshots ORDER BY store_seq DESC, id DESC LIMIT %s)",
                    (KEEP,))
        LOG.info("index: published snapshot %s (%d vectors)", folder.name, manifest.count)
        return manifest

    def newest_seq(self) -> int:
        """The store sequence the newest published snapshot covers (0: none)."""
        with self._connect() as connection:
            row = connection.execute("SELECT MAX(store_seq) FROM index_snapshots").fetchone()
        return int(row[0] or 0) if row else 0

    def fetch(self, index_dir: Path) -> bool:
        """Install the newest published snapshot as ``index_dir``'s current one
        when it is newer than what is there; True when it installed one."""
        index_dir.mkdir(parents=True, exist_ok=True)
        handle = os.open(index_dir / ".fetch.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)  # one fetch per machine; the others wait
            with self._connect() as connection:
                row = connection.execute(
                    "SELECT id, name, manifest FROM index_snapshots "
                    "ORDER BY store_seq DESC, id DESC LIMIT 1").fetchone()
                if row is None:
                    return False
                snapshot_id, name, data = row
                manifest = Manifest(**(data if isinstance(data, dict) else json.loads(data)))
                if manifest.store_seq <= _local_seq(index_dir):
                    return False

                def write_index(path: Path) -> None:
                    with open(path, "wb") as out:
                        for (part,) in connection.execute(
                                "SELECT data FROM index_snapshot_parts WHERE snapshot_id = %s "
                                "ORDER BY part", (snapshot_id,)):
                            out.write(part)

                install_snapshot(index_dir, str(name), manifest, write_index)
            LOG.info("index: fetched snapshot %s (%d vectors)", name, manifest.count)
            return True
        finally:
            with suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)
            os.close(handle)


class BackgroundPublisher:
    """Publishes ``index_dir``'s current snapshot on a thread of its own, so that
    the upload (gigabytes at ten million articles) never holds up the writer's
    next batch. Requests made while one runs are coalesced into one more
    publication, of the snapshot current by then."""

    def __init__(self, shelf: SnapshotShelf, index_dir: Path) -> None:
        self.shelf = shelf
        self.index_dir = index_dir
        self.failures = 0
        self._wanted = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def request(self) -> None:
        with self._lock:
            self._idle.clear()
            self._wanted.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="snapshot-publisher",
                                                daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._wanted.wait(timeout=1.0):
                with self._lock:
                    if not self._wanted.is_set():  # nothing asked for a while: end
                        self._thread = None
                        return
                continue
            self._wanted.clear()
            try:
                self.shelf.publish(self.index_dir)
            except Exception:  # readers elsewhere keep the older one and a longer tail
                self.failures += 1
                LOG.exception("index: publishing the snapshot in the store failed")
            with self._lock:
                if not self._wanted.is_set():
                    self._idle.set()
        self._idle.set()

    def wait(self, timeout: float) -> bool:
        """True once every requested publication is done (or has failed)."""
        return self._idle.wait(timeout)

    def close(self, timeout: float = 60.0) -> None:
        """Finish the publication under way, then stop."""
        self.wait(timeout)
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)


def _local_seq(index_dir: Path) -> int:
    try:
        found = read_manifest(index_dir)
    except DamagedSnapshot:
        return 0
    return 0 if found is None else found[1].store_seq
