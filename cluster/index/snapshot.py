"""Index snapshots on disk: written aside, made current by one atomic rename.

Layout of ``index_dir``::

    CURRENT                 name of the live snapshot folder (replaced atomically)
    snap-<seq>-<token>/
        index.bin           the vector index (FAISS or NumPy format)
        manifest.json       store id, model, dimension, metric, backend, store sequence
                            covered, vector count, SHA-256 of index.bin
    damaged-<name>-<time>/  a snapshot that failed to load or verify, kept
                            for inspection

A snapshot folder is complete before CURRENT names it, so a crash at any
moment leaves the previous snapshot usable; stale and half-written folders
are removed after the switch and on the next successful write. A snapshot
that cannot be read, or whose index.bin does not match its manifest, is set
aside and ``load_snapshot`` answers as if there were none: the index is
derived data, rebuilt from the store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from cluster.errors import IndexMismatch
from cluster.index.backends import VectorIndex, read_index
from cluster.index.layout import accepts

MANIFEST_VERSION = 2
CURRENT = "CURRENT"
LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Manifest:
    model: str
    dimension: int
    metric: str
    backend: str
    store_seq: int
    count: int
    created_at: float
    version: int = MANIFEST_VERSION
    sha256: str = ""
    """Of index.bin; empty in snapshots written before checksums (not verified)."""
    store: str = ""
    """The id of the store it was built from; empty in snapshots written
    before stores had ids (taken for any store)."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def write_snapshot(index_dir: Path, index: VectorIndex, model: str, store_seq: int,
                   store: str = "") -> Manifest:
    """Write ``index`` as the new current snapshot covering ``store_seq`` of
    the store whose id is ``store``."""
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"snap-{store_seq:012d}-{secrets.token_hex(4)}"
    staging = index_dir / (name + ".tmp")
    staging.mkdir()
    try:
        index.write(staging / "index.bin")
        manifest = Manifest(
            model=model, dimension=index.dimension, metric="inner_product",
            backend=index.kind, store_seq=store_seq, count=len(index), created_at=time.time(),
            sha256=file_sha256(staging / "index.bin"), store=store,
        )
        (staging / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2))
        for part in ("index.bin", "manifest.json"):
            _fsync_file(staging / part)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a full disk leaves nothing behind
        raise
    _make_current(index_dir, staging, name)
    return manifest


def install_snapshot(index_dir: Path, name: str, manifest: Manifest,
                     write_index: Callable[[Path], None]) -> None:
    """Make a snapshot written elsewhere (``write_index`` writes its index.bin)
    the current one here, verified against its manifest's checksum first."""
    if not name.startswith("snap-") or "/" in name or name.endswith(".tmp"):
        raise DamagedSnapshot(f"{name[:80]!r} is not a snapshot's name")
    index_dir.mkdir(parents=True, exist_ok=True)
    staging = index_dir / (name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        write_index(staging / "index.bin")
        if manifest.sha256 and file_sha256(staging / "index.bin") != manifest.sha256:
            raise DamagedSnapshot(f"{name}: index.bin does not match its manifest's checksum")
        (staging / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2))
        for part in ("index.bin", "manifest.json"):
            _fsync_file(staging / part)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _make_current(index_dir, staging, name)


def _make_current(index_dir: Path, staging: Path, name: str) -> None:
    """Rename a complete staging folder to ``name`` and point CURRENT at it."""
    final = index_dir / name
    os.replace(staging, final)
    pointer = index_dir / (CURRENT + ".tmp")
    pointer.write_text(name)
    _fsync_file(pointer)
    os.replace(pointer, index_dir / CURRENT)
    _fsync_dir(index_dir)
    _remove_stale(index_dir, keep=name)


def _remove_stale(index_dir: Path, keep: str) -> None:
    for entry in index_dir.iterdir():
        if entry.is_dir() and entry.name.startswith("snap-") and entry.name != keep:
            shutil.rmtree(entry, ignore_errors=True)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read a block at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DamagedSnapshot(Exception):
    """A snapshot that cannot be read or does not verify (internal: it is set aside)."""


def read_manifest(index_dir: Path) -> tuple[Path, Manifest] | None:
    """The current snapshot's folder and manifest; None when there is none.
    Raises ``DamagedSnapshot`` when CURRENT or the manifest cannot be read."""
    pointer = index_dir / CURRENT
    if not pointer.exists():
        return None
    try:
        name = pointer.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise DamagedSnapshot(f"{pointer} is unreadable ({exc})") from None
    folder = index_dir / name
    if not name or "/" in name or not folder.is_dir():
        raise DamagedSnapshot(f"{pointer} names {name[:80]!r}, which is not a snapshot folder")
    try:
        data = json.loads((folder / "manifest.json").read_text())
        manifest = Manifest(**data)
        if not isinstance(manifest.count, int) or not isinstance(manifest.sha256, str):
            raise TypeError("fields of the wrong type")
        return folder, manifest
    except (OSError, ValueError, TypeError) as exc:
        raise DamagedSnapshot(f"the manifest in {folder} is unreadable ({exc})") from None


def set_aside(index_dir: Path, reason: str) -> Path | None:
    """Move the current snapshot (if any) out of the way, keeping it for
    inspection, and remove CURRENT; returns where it went."""
    pointer = index_dir / CURRENT
    moved = None
    try:
        name = pointer.read_text().strip()
    except (OSError, UnicodeDecodeError):
        name = ""
    folder = index_dir / name if name and "/" not in name else None
    if folder is not None and folder.is_dir():
        moved = index_dir / f"damaged-{name}-{int(time.time())}"
        os.replace(folder, moved)
    pointer.unlink(missing_ok=True)
    _fsync_dir(index_dir)
    LOG.error("index: snapshot %s is damaged (%s); set aside%s; rebuilding the index from "
              "the store", name or "(none)", reason, f" as {moved}" if moved else "")
    return moved


def _leave_in_place(index_dir: Path, reason: str) -> None:
    LOG.warning("index: the snapshot in %s cannot be read (%s); the index comes from the store",
                index_dir, reason)


def load_snapshot(
    index_dir: Path, model: str, dimension: int, backend: str, nprobe: int = 32,
    mapped: bool = False, owner: bool = True, store: str = "",
) -> tuple[VectorIndex, Manifest] | None:
    """The current snapshot, checked against the configured model; None when
    there is none yet, when it was built from another store than ``store``
    (an id; it is left in place: the next snapshot replaces it), or when it
    is damaged (it is then set aside, see ``set_aside``, and the caller
    rebuilds the index from the store).
    ``mapped`` memory-maps it; a process that does not own the index folder
    (``owner=False``: a reader, while the writer may be replacing the
    snapshot) never sets anything aside, it only answers None."""
    set_aside_damaged: Callable[[Path, str], object] = set_aside if owner else _leave_in_place
    try:
        found = read_manifest(index_dir)
    except DamagedSnapshot as exc:
        set_aside_damaged(index_dir, str(exc))
        return None
    if found is None:
        return None
    folder, manifest = found
    if store and manifest.store and manifest.store != store:
        LOG.warning("index: the snapshot in %s was built from another store; the index "
                    "comes from this store", index_dir)
        return None
    if manifest.model != model or manifest.dimension != dimension:
        raise IndexMismatch(
            f"index snapshot in {index_dir} was built with model {manifest.model!r} "
            f"(dimension {manifest.dimension}) but the service is configured for {model!r} "
            f"(dimension {dimension}); run `newsclusters rebuild --reembed` to "
            "rebuild it for the configured model"
        )
    if not accepts(backend, manifest.backend):
        raise IndexMismatch(
            f"index snapshot in {index_dir} uses backend {manifest.backend!r} but "
            f"{backend!r} is configured; run `newsclusters rebuild`"
        )
    index_file = folder / "index.bin"
    try:
        if manifest.sha256 and file_sha256(index_file) != manifest.sha256:
            raise DamagedSnapshot("index.bin does not match its manifest's checksum")
        index = read_index(manifest.backend, index_file, dimension, nprobe, mapped)
        if len(index) != manifest.count:
            raise DamagedSnapshot(f"index.bin holds {len(index)} vectors, its manifest "
                                  f"{manifest.count}")
    except DamagedSnapshot as exc:
        set_aside_damaged(index_dir, str(exc))
        return None
    except Exception as exc:  # FAISS and NumPy raise many kinds on a bad file
        set_aside_damaged(index_dir, f"index.bin cannot be read: {type(exc).__name__}: {exc}"[:300])
        return None
    return index, manifest
