"""Index segments: what the index changed between two store sequences, as a
sealed index of its own.

A reader on another machine than the writer's keeps the snapshot it
fetched and adds, after it, the segments published since (each only the
articles indexed or removed in its range of the store's index log), until
the writer publishes a whole snapshot again. At ten million articles a
snapshot is about 4 GB while a segment of the 2 % that changed since is
about 80 MB, so a publication, and each machine's fetch of it, moves only
what is new. Each segment is an index of the layout its own size calls for
(exact, or IVF cells trained on its own vectors), so it needs nothing from
the snapshot it follows.

Layout, inside a snapshot's folder (see cluster/index/snapshot.py)::

    segments/
        seg-<store_seq>-<token>/
            index.bin       the segment's vectors (FAISS or NumPy format)
            changed.npy     every key whose index entry changed in the range:
                            those it holds again and those removed
            manifest.json   the range (from_seq, store_seq], counts, checksums

A segment folder is complete before it is renamed into place. The chain of
a snapshot is its segments in order, each starting where the one before it
ended; a segment that does not continue the chain, or does not verify, ends
it, and the reader replays the store's index log from there. One that does
not verify is set aside, so that the next fetch installs it again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cluster.index.backends import (
    IVF_SAMPLE_PER_LIST,
    FaissIvfIndex,
    KeyArray,
    VectorIndex,
    create_index,
    ivf_lists,
    read_index,
)
from cluster.index.layout import ADAPTIVE, wanted_kind
from cluster.index.snapshot import DamagedSnapshot, Manifest, file_sha256, read_manifest
from cluster.store import Reader
from cluster.types import ArticleKey

LOG = logging.getLogger(__name__)
SEGMENTS = "segments"
CHUNK = 5_000
"""Articles read from the store at a time while a segment is built."""


@dataclass(frozen=True)
class SegmentManifest:
    name: str
    backend: str
    from_seq: int
    store_seq: int
    count: int
    """Vectors the segment holds."""
    changed: int
    """Keys whose index entry changed in the range (held again or removed)."""
    sha256: str
    """Of index.bin."""
    changed_sha256: str
    created_at: float


def changes_between(reader: Reader, since: int, until: int) -> tuple[list[ArticleKey],
                                                                      list[ArticleKey]]:
    """(every key the index log touched in (since, until], those of them whose
    last change was an add and that the store still holds)."""
    final: dict[ArticleKey, str] = {}
    for seq, key, op in reader.index_ops_since(since):
        if seq > until:
            break
        final[key] = op
    added = [key for key, op in final.items() if op == "add"]
    present: list[ArticleKey] = []
    for start in range(0, len(added), CHUNK):
        chunk = added[start:start + CHUNK]
        stored = reader.articles_by_keys(chunk)
        present.extend(key for key in chunk if key in stored)
    return sorted(final), sorted(present)


def build_segment(reader: Reader, since: int, until: int, backend: str, dimension: int,
                  ivf_threshold: int, nprobe: int) -> tuple[VectorIndex, KeyArray]:
    """The segment for (since, until]: an index of the store's current vectors
    of the keys added in that range, and every key the range changed."""
    changed, added = changes_between(reader, since, until)
    kind = wanted_kind(backend, len(added), ivf_threshold)
    index: VectorIndex
    if kind == "faiss-ivf":
        step = max(1, len(added) // (ivf_lists(len(added)) * IVF_SAMPLE_PER_LIST))
        sample = reader.vectors(added[::step])
        index = FaissIvfIndex.trained(dimension, sample, ivf_lists(len(added)), nprobe)
    else:
        index = create_index("faiss-flat" if backend in ADAPTIVE else backend, dimension)
    for start in range(0, len(added), CHUNK):
        chunk = added[start:start + CHUNK]
        index.add(np.array(chunk, dtype=np.int64), reader.vectors(chunk))
    return index, np.array(changed, dtype=np.int64)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def keys_bytes(keys: KeyArray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(keys, dtype=np.int64), allow_pickle=False)
    return buffer.getvalue()


def keys_from_bytes(data: bytes) -> KeyArray:
    keys = np.load(io.BytesIO(data), allow_pickle=False)
    if keys.dtype != np.int64 or keys.ndim != 1:
        raise ValueError("a segment's changed keys are not one row of 64-bit integers")
    return np.asarray(keys, dtype=np.int64)


def write_segment(folder: Path, index: VectorIndex, changed: KeyArray, from_seq: int,
                  store_seq: int) -> tuple[Path, SegmentManifest]:
    """Write a segment into ``folder`` (a folder of its own inside it, named
    after it); returns where and its manifest."""
    name = f"seg-{store_seq:012d}-{secrets.token_hex(4)}"
    target = folder / name
    target.mkdir(parents=True)
    index.write(target / "index.bin")
    changed_data = keys_bytes(changed)
    (target / "changed.npy").write_bytes(changed_data)
    manifest = SegmentManifest(
        name=name, backend=index.kind, from_seq=from_seq, store_seq=store_seq,
        count=len(index), changed=len(changed), sha256=file_sha256(target / "index.bin"),
        changed_sha256=_sha256(changed_data), created_at=time.time())
    (target / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2))
    return target, manifest


def install_segment(snapshot_folder: Path, manifest: SegmentManifest,
                    write_index: Callable[[Path], None], changed: bytes) -> None:
    """Add a segment fetched from elsewhere to a snapshot's folder, verified
    against its manifest first; it replaces a damaged copy of itself."""
    name = manifest.name
    if not name.startswith("seg-") or "/" in name or name.endswith(".tmp"):
        raise ValueError(f"{name[:80]!r} is not a segment's name")
    root = snapshot_folder / SEGMENTS
    root.mkdir(exist_ok=True)
    staging = root / (name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        write_index(staging / "index.bin")
        if file_sha256(staging / "index.bin") != manifest.sha256:
            raise ValueError(f"{name}: index.bin does not match its manifest's checksum")
        if _sha256(changed) != manifest.changed_sha256:
            raise ValueError(f"{name}: changed.npy does not match its manifest's checksum")
        (staging / "changed.npy").write_bytes(changed)
        (staging / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2))
        for part in ("index.bin", "changed.npy", "manifest.json"):
            with open(staging / part, "rb+") as handle:
                os.fsync(handle.fileno())
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(root / name, ignore_errors=True)
    os.replace(staging, root / name)
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def chain(snapshot_folder: Path, base_seq: int) -> list[tuple[Path, SegmentManifest]]:
    """The snapshot's segments in order, as far as each continues the one
    before it (manifests only; ``load_segments`` verifies the files)."""
    root = snapshot_folder / SEGMENTS
    if not root.is_dir():
        return []
    by_start: dict[int, tuple[Path, SegmentManifest]] = {}
    for entry in sorted(root.iterdir()):
        if not entry.is_dir() or not entry.name.startswith("seg-") or entry.name.endswith(".tmp"):
            continue
        try:
            manifest = SegmentManifest(**json.loads((entry / "manifest.json").read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if manifest.store_seq > manifest.from_seq:
            by_start.setdefault(manifest.from_seq, (entry, manifest))
    found: list[tuple[Path, SegmentManifest]] = []
    seq = base_seq
    while seq in by_start:
        found.append(by_start[seq])
        seq = by_start[seq][1].store_seq
    return found


def chain_seq(snapshot_folder: Path, base_seq: int) -> int:
    """The store sequence a snapshot and its segments reach together."""
    found = chain(snapshot_folder, base_seq)
    return found[-1][1].store_seq if found else base_seq


def load_segments(snapshot_folder: Path, base_seq: int, dimension: int, nprobe: int,
                  mapped: bool = True) -> list[tuple[VectorIndex, KeyArray, SegmentManifest]]:
    """The snapshot's chain of segments, each verified and (FAISS ones) mapped;
    the chain ends before the first that does not verify."""
    loaded: list[tuple[VectorIndex, KeyArray, SegmentManifest]] = []
    for folder, manifest in chain(snapshot_folder, base_seq):
        try:
            if file_sha256(folder / "index.bin") != manifest.sha256:
                raise ValueError("index.bin does not match its manifest's checksum")
            changed_data = (folder / "changed.npy").read_bytes()
            if _sha256(changed_data) != manifest.changed_sha256:
                raise ValueError("changed.npy does not match its manifest's checksum")
            index = read_index(manifest.backend, folder / "index.bin", dimension, nprobe, mapped)
            if len(index) != manifest.count:
                raise ValueError(f"index.bin holds {len(index)} vectors, its manifest "
                                 f"{manifest.count}")
            loaded.append((index, keys_from_bytes(changed_data), manifest))
        except Exception as exc:  # FAISS and NumPy raise many kinds on a bad file
            LOG.warning("index: segment %s cannot be used (%s); set aside for the next "
                        "fetch to replace, and the store's index log serves from %d",
                        folder.name, str(exc)[:200], manifest.from_seq)
            _set_aside(folder)
            break
    return loaded


def _set_aside(folder: Path) -> None:
    """Move a damaged segment out of the chain (kept for inspection), so that
    the next fetch installs it again; processes that mapped it keep their
    mapping."""
    with suppress(OSError):  # another process set it aside first
        os.replace(folder, folder.with_name(f"damaged-{folder.name}-{int(time.time())}"))


def current_segments(index_dir: Path, base: Manifest, dimension: int, nprobe: int
                     ) -> list[tuple[VectorIndex, KeyArray, SegmentManifest]]:
    """The segments of ``index_dir``'s current snapshot, provided it is still
    the one ``base`` describes (another process may have replaced it since)."""
    try:
        found = read_manifest(index_dir)
    except DamagedSnapshot:
        return []
    if found is None or found[1] != base:
        return []
    return load_segments(found[0], base.store_seq, dimension, nprobe)


def current_reach(index_dir: Path) -> int:
    """The store sequence ``index_dir``'s current snapshot and its segments
    reach (0: none readable)."""
    try:
        found = read_manifest(index_dir)
    except DamagedSnapshot:
        return 0
    return 0 if found is None else chain_seq(found[0], found[1].store_seq)
