"""Index snapshots published in the PostgreSQL store, so that readers on
machines other than the writer's map the writer's index instead of
rebuilding it from every stored vector.

The writer publishes each snapshot it writes (``publish``). While the
policy allows, a publication is a segment (cluster/index/segments.py): only
what the index changed since the newest publication, built from the store.
Past the policy's number of segments, or once the segments would hold more
than its share of the snapshot they follow, the whole snapshot is published
again (its index.bin in parts, in one transaction), and the newest ``KEEP``
snapshots are kept, each with its segments. A reader in queue mode
(``writes = queue``) brings its own ``index_dir`` up to the newest
publication when it starts and whenever a newer one appears (``fetch``: the
snapshot when the local one is another, then the segments it lacks, each
verified against its checksums, under a file lock so that the reader
processes of one machine fetch once); it then maps the snapshot and its
segments as it would the writer's own snapshot and replays the store's
index log past them: sealed, memory-mapped parts and a growing tail.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.index.segments import (
    SegmentManifest,
    build_segment,
    chain_seq,
    install_segment,
    write_segment,
)
from cluster.index.snapshot import DamagedSnapshot, Manifest, install_snapshot, read_manifest

if TYPE_CHECKING:
    import psycopg

LOG = logging.getLogger(__name__)

PART_BYTES = 32 * 1024 * 1024
KEEP = 2
"""Published snapshots kept: a reader fetching the newest never loses it mid-way."""


@dataclass(frozen=True)
class SegmentPolicy:
    """When the writer publishes a segment instead of the whole snapshot, and
    how a segment's index is laid out."""

    limit: int
    """Most segments after one snapshot; 0 publishes the whole snapshot every time."""
    share: float
    """Most vectors the segments after one snapshot hold together, as a share of it."""
    backend: str
    ivf_threshold: int
    nprobe: int


@dataclass(frozen=True)
class _Base:
    id: int
    name: str
    store_seq: int
    count: int
    top: int
    """The store sequence it and its segments reach."""
    segments: int
    segment_vectors: int


class SnapshotShelf:
    def __init__(self, url: str, policy: SegmentPolicy | None = None,
                 role: str | None = None) -> None:
        """``role``: the partition whose index this shelf holds, of a
        partitioned writer (each publishes its own; None: the one writer)."""
        self.url = url
        self.policy = policy
        self.role = role

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=10,
                               application_name="newsclusters snapshots")

    def _newest_base(self, connection: psycopg.Connection[Any]) -> _Base | None:
        row = connection.execute(
            "SELECT b.id, b.name, b.store_seq, (b.manifest->>'count')::BIGINT, "
            "COALESCE(MAX(s.store_seq), b.store_seq), COUNT(s.id), "
            "COALESCE(SUM((s.manifest->>'count')::BIGINT), 0) "
            "FROM index_snapshots b LEFT JOIN index_snapshots s ON s.base_id = b.id "
            "WHERE b.base_id IS NULL AND b.role IS NOT DISTINCT FROM %s GROUP BY b.id "
            "ORDER BY b.store_seq DESC, b.id DESC LIMIT 1", (self.role,)).fetchone()
        if row is None:
            return None
        base_id, name, store_seq, count, top, segments, segment_vectors = row
        return _Base(int(base_id), str(name), int(store_seq), int(count), int(top),
                     int(segments), int(segment_vectors))

    def publish(self, index_dir: Path) -> Manifest | SegmentManifest | None:
        """Publish what ``index_dir``'s current snapshot has that the shelf does
        not: a segment of the changes since the newest publication while the
        policy allows one, else the whole snapshot."""
        found = read_manifest(index_dir)
        if found is None:
            return None
        folder, manifest = found
        with self._connect() as connection:
            if connection.execute("SELECT 1 FROM index_snapshots WHERE name = %s",
                                  (folder.name,)).fetchone():
                return manifest
            base = self._newest_base(connection)
            if base is not None and manifest.store_seq <= base.top:
                return None  # the shelf already reaches as far
            if base is not None and self._segment_allowed(base):
                segment = self._publish_segment(connection, base, manifest)
                if segment is not None:
                    return segment
            self._publish_base(connection, folder, manifest)
        return manifest

    def _segment_allowed(self, base: _Base) -> bool:
        policy = self.policy
        return policy is not None and policy.limit > 0 and base.segments < policy.limit

    def _publish_segment(self, connection: psycopg.Connection[Any], base: _Base,
                         manifest: Manifest) -> SegmentManifest | None:
        """The changes over (base.top, manifest.store_seq] as a segment, unless
        the base's segments would then hold more than the policy's share."""
        from psycopg.types.json import Jsonb

        from cluster.store.opening import open_store

        policy = self.policy
        assert policy is not None
        store = open_store(self.url, read_only=True)
        try:
            with store.read() as reader:
                index, changed = build_segment(
                    reader, base.top, manifest.store_seq, policy.backend, manifest.dimension,
                    policy.ivf_threshold, policy.nprobe)
        finally:
            store.close()
        if base.segment_vectors + len(index) > policy.share * max(base.count, 1):
            return None
        with tempfile.TemporaryDirectory(prefix="segment-") as scratch:
            folder, segment = write_segment(Path(scratch), index, changed, base.top,
                                            manifest.store_seq)
            with connection.transaction():
                row = connection.execute(
                    "INSERT INTO index_snapshots (name, store_seq, manifest, published_at, "
                    "base_id, from_seq, changed, role) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "RETURNING id",
                    (segment.name, segment.store_seq, Jsonb(asdict(segment)), time.time(),
                     base.id, segment.from_seq, (folder / "changed.npy").read_bytes(),
                     self.role),
                ).fetchone()
                assert row is not None
                self._upload(connection, row[0], folder / "index.bin")
        LOG.info("index: published segment %s (%d vectors, %d keys changed)", segment.name,
                 segment.count, segment.changed)
        return segment

    def _publish_base(self, connection: psycopg.Connection[Any], folder: Path,
                      manifest: Manifest) -> None:
        from psycopg.types.json import Jsonb

        with connection.transaction():
            row = connection.execute(
                "INSERT INTO index_snapshots (name, store_seq, manifest, published_at, role) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (folder.name, manifest.store_seq, Jsonb(asdict(manifest)),
                 time.time(), self.role)).fetchone()
            assert row is not None
            self._upload(connection, row[0], folder / "index.bin")
            connection.execute(
                "DELETE FROM index_snapshots WHERE base_id IS NULL "
                "AND role IS NOT DISTINCT FROM %s AND id NOT IN ("
                "SELECT id FROM index_snapshots WHERE base_id IS NULL "
                "AND role IS NOT DISTINCT FROM %s "
                "ORDER BY store_seq DESC, id DESC LIMIT %s)", (self.role, self.role, KEEP))
        LOG.info("index: published snapshot %s (%d vectors)", folder.name, manifest.count)

    @staticmethod
    def _upload(connection: psycopg.Connection[Any], snapshot_id: int, path: Path) -> None:
        with open(path, "rb") as handle:
            for part, data in enumerate(iter(lambda: handle.read(PART_BYTES), b"")):
                connection.execute(
                    "INSERT INTO index_snapshot_parts (snapshot_id, part, data) "
                    "VALUES (%s, %s, %s)", (snapshot_id, part, data))

    @staticmethod
    def _parts_writer(connection: psycopg.Connection[Any],
                      snapshot_id: int) -> Callable[[Path], None]:
        def write_index(path: Path) -> None:
            with open(path, "wb") as out:
                for (part,) in connection.execute(
                        "SELECT data FROM index_snapshot_parts WHERE snapshot_id = %s "
                        "ORDER BY part", (snapshot_id,)):
                    out.write(part)
        return write_index

    def newest_seq(self) -> int:
        """The store sequence the newest publication reaches (0: none)."""
        with self._connect() as connection:
            base = self._newest_base(connection)
        return 0 if base is None else base.top

    def fetch(self, index_dir: Path) -> bool:
        """Bring ``index_dir`` up to the newest publication: the newest
        snapshot when the local one is another and older, then the segments
        published after it that are not here yet; True when it installed any."""
        index_dir.mkdir(parents=True, exist_ok=True)
        handle = os.open(index_dir / ".fetch.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)  # one fetch per machine; the others wait
            with self._connect() as connection:
                base = self._newest_base(connection)
                if base is None:
                    return False
                local = _local(index_dir)
                installed = False
                if local is None or local[0].name != base.name:
                    if local is not None and chain_seq(*local) >= base.top:
                        return False
                    row = connection.execute("SELECT manifest FROM index_snapshots "
                                             "WHERE id = %s", (base.id,)).fetchone()
                    if row is None:
                        return False  # replaced meanwhile: the next look takes the newer
                    manifest = Manifest(**_json(row[0]))
                    install_snapshot(index_dir, base.name, manifest,
                                     self._parts_writer(connection, base.id))
                    LOG.info("index: fetched snapshot %s (%d vectors)", base.name,
                             manifest.count)
                    local, installed = (index_dir / base.name, manifest.store_seq), True
                return self._fetch_segments(connection, base, *local) or installed
        finally:
            with suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)
            os.close(handle)

    def _fetch_segments(self, connection: psycopg.Connection[Any], base: _Base,
                        folder: Path, base_seq: int) -> bool:
        reached = chain_seq(folder, base_seq)
        rows = connection.execute(
            "SELECT id, manifest, changed FROM index_snapshots "
            "WHERE base_id = %s AND store_seq > %s ORDER BY from_seq, id",
            (base.id, reached)).fetchall()
        installed = False
        for segment_id, data, changed in rows:
            segment = SegmentManifest(**_json(data))
            if segment.from_seq != reached:
                break  # not the next one: the store's index log serves from here
            install_segment(folder, segment, self._parts_writer(connection, segment_id),
                            bytes(changed))
            LOG.info("index: fetched segment %s (%d vectors)", segment.name, segment.count)
            reached, installed = segment.store_seq, True
        return installed


def _json(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else dict(json.loads(data))


def _local(index_dir: Path) -> tuple[Path, int] | None:
    """The current snapshot's folder and store sequence, if it is readable."""
    try:
        found = read_manifest(index_dir)
    except DamagedSnapshot:
        return None
    return None if found is None else (found[0], found[1].store_seq)


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
