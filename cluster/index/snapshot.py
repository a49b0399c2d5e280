"""Index snapshots on disk: written aside, made current by one atomic rename.

Layout of ``index_dir``::

    CURRENT                 name of the live snapshot folder (replaced atomically)
    snap-<seq>-<token>/
        index.bin           the vector index (FAISS or NumPy format)
        manifest.json       model, dimension, metric, backend, store sequence covered

A snapshot folder is complete before CURRENT names it, so a crash at any
moment leaves the previous snapshot usable; stale folders are removed after
the switch and on the next successful write.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cluster.errors import IndexMismatch
from cluster.index.backends import VectorIndex, read_index
from cluster.index.layout import accepts

MANIFEST_VERSION = 1
CURRENT = "CURRENT"


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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def write_snapshot(index_dir: Path, index: VectorIndex, model: str, store_seq: int) -> Manifest:
    """Write ``index`` as the new current snapshot covering ``store_seq``."""
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"snap-{store_seq:012d}-{secrets.token_hex(4)}"
    staging = index_dir / (name + ".tmp")
    staging.mkdir()
    manifest = Manifest(
        model=model, dimension=index.dimension, metric="inner_product", backend=index.kind,
        store_seq=store_seq, count=len(index), created_at=time.time(),
    )
    index.write(staging / "index.bin")
    (staging / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2))
    for part in ("index.bin", "manifest.json"):
        _fsync_file(staging / part)
    final = index_dir / name
    os.replace(staging, final)
    pointer = index_dir / (CURRENT + ".tmp")
    pointer.write_text(name)
    _fsync_file(pointer)
    os.replace(pointer, index_dir / CURRENT)
    _fsync_dir(index_dir)
    _remove_stale(index_dir, keep=name)
    return manifest


def _remove_stale(index_dir: Path, keep: str) -> None:
    for entry in index_dir.iterdir():
        if entry.is_dir() and entry.name.startswith("snap-") and entry.name != keep:
            shutil.rmtree(entry, ignore_errors=True)


def read_manifest(index_dir: Path) -> tuple[Path, Manifest] | None:
    pointer = index_dir / CURRENT
    if not pointer.exists():
        return None
    folder = index_dir / pointer.read_text().strip()
    try:
        data = json.loads((folder / "manifest.json").read_text())
        return folder, Manifest(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise IndexMismatch(
            f"index snapshot {folder} is unreadable ({exc}); "
            "run `newsclusters rebuild` to rebuild it from the store"
        ) from None


def load_snapshot(
    index_dir: Path, model: str, dimension: int, backend: str, nprobe: int = 32,
) -> tuple[VectorIndex, Manifest] | None:
    """The current snapshot, checked against the configured model; None when
    there is none yet."""
    found = read_manifest(index_dir)
    if found is None:
        return None
    folder, manifest = found
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
    return read_index(manifest.backend, folder / "index.bin", dimension, nprobe), manifest
