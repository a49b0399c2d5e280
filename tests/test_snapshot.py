from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cluster.errors import IndexMismatch
from cluster.index.backends import FaissFlatIndex
from cluster.index.snapshot import CURRENT, load_snapshot, read_manifest, write_snapshot


def small_index(n: int, seed: int = 0) -> FaissFlatIndex:
    index = FaissFlatIndex(4)
    vectors = np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)
    index.add(np.arange(n, dtype=np.int64), vectors)
    return index


def test_write_then_load_checks_the_manifest(tmp_path: Path) -> None:
    manifest = write_snapshot(tmp_path, small_index(5), "model-a", store_seq=5)
    assert manifest.count == 5 and manifest.metric == "inner_product"
    loaded = load_snapshot(tmp_path, "model-a", 4, "faiss-flat")
    assert loaded is not None and len(loaded[0]) == 5 and loaded[1].store_seq == 5
    with pytest.raises(IndexMismatch, match=r"newsclusters rebuild"):
        load_snapshot(tmp_path, "model-b", 4, "faiss-flat")
    with pytest.raises(IndexMismatch, match=r"newsclusters rebuild"):
        load_snapshot(tmp_path, "model-a", 8, "faiss-flat")


def test_a_snapshot_of_another_store_is_not_loaded_and_left_in_place(tmp_path: Path) -> None:
    write_snapshot(tmp_path, small_index(5), "model-a", store_seq=5, store="store-a")
    current = (tmp_path / CURRENT).read_text()
    assert load_snapshot(tmp_path, "model-a", 4, "faiss-flat", store="store-a") is not None
    # another store's snapshot is not this store's, whatever its model
    assert load_snapshot(tmp_path, "model-a", 4, "faiss-flat", store="store-b") is None
    assert load_snapshot(tmp_path, "model-b", 8, "faiss-flat", store="store-b") is None
    assert (tmp_path / CURRENT).read_text() == current
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("damaged-")]


def test_a_snapshot_from_before_store_ids_is_taken_for_any_store(tmp_path: Path) -> None:
    write_snapshot(tmp_path, small_index(3), "m", store_seq=3)
    loaded = load_snapshot(tmp_path, "m", 4, "faiss-flat", store="store-a")
    assert loaded is not None and loaded[1].store == ""


def test_no_snapshot_yet(tmp_path: Path) -> None:
    assert load_snapshot(tmp_path, "m", 4, "faiss-flat") is None


def test_a_crash_while_writing_leaves_the_previous_snapshot_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_snapshot(tmp_path, small_index(3), "m", store_seq=3)

    def crash(*args: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(FaissFlatIndex, "write", crash)
    with pytest.raises(OSError):
        write_snapshot(tmp_path, small_index(7), "m", store_seq=7)
    monkeypatch.undo()
    loaded = load_snapshot(tmp_path, "m", 4, "faiss-flat")
    assert loaded is not None and loaded[1].store_seq == 3 and len(loaded[0]) == 3
    # The next successful write clears the half-written folder.
    write_snapshot(tmp_path, small_index(9), "m", store_seq=9)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir())[0].startswith("snap-")
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 1


def _damage(kind: str, index_dir: Path) -> None:
    folder = index_dir / (index_dir / CURRENT).read_text()
    index_file = folder / "index.bin"
    if kind == "garbage manifest":
        (folder / "manifest.json").write_text("{not json")
    elif kind == "manifest of the wrong shape":
        (folder / "manifest.json").write_text('{"model": "m"}')
    elif kind == "random bytes":
        index_file.write_bytes(np.random.default_rng(1).bytes(index_file.stat().st_size))
    elif kind == "truncated":
        index_file.write_bytes(index_file.read_bytes()[:40])
    elif kind == "empty":
        index_file.write_bytes(b"")
    elif kind == "missing":
        index_file.unlink()
    elif kind == "dangling CURRENT":
        (index_dir / CURRENT).write_text("snap-999-gone")
    elif kind == "flipped bytes":
        data = bytearray(index_file.read_bytes())
        data[-20] ^= 0xFF  # inside the vectors: FAISS still reads it
        index_file.write_bytes(bytes(data))
    elif kind == "older index under a newer manifest":
        elsewhere = index_dir / "older"
        write_snapshot(elsewhere, small_index(2), "m", store_seq=2)
        older = elsewhere / (elsewhere / CURRENT).read_text() / "index.bin"
        index_file.write_bytes(older.read_bytes())


@pytest.mark.parametrize("kind", [
    "garbage manifest", "manifest of the wrong shape", "random bytes", "truncated", "empty",
    "missing", "dangling CURRENT", "flipped bytes", "older index under a newer manifest",
])
def test_a_damaged_snapshot_is_set_aside_for_a_rebuild(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture,
) -> None:
    index_dir = tmp_path / "indexes"
    write_snapshot(index_dir, small_index(6), "m", store_seq=6)
    _damage(kind, index_dir)
    with caplog.at_level("ERROR", logger="cluster.index.snapshot"):
        assert load_snapshot(index_dir, "m", 4, "faiss-flat") is None
    assert not (index_dir / CURRENT).exists()
    assert [r.getMessage() for r in caplog.records if "rebuilding the index" in r.getMessage()]
    if kind != "dangling CURRENT":
        assert [p.name for p in index_dir.iterdir() if p.name.startswith("damaged-snap-")]
    write_snapshot(index_dir, small_index(3), "m", store_seq=3)  # the next one is fine
    loaded = load_snapshot(index_dir, "m", 4, "faiss-flat")
    assert loaded is not None and len(loaded[0]) == 3


def test_the_manifest_carries_the_index_files_checksum(tmp_path: Path) -> None:
    import hashlib

    manifest = write_snapshot(tmp_path, small_index(4), "m", store_seq=4)
    folder = tmp_path / (tmp_path / CURRENT).read_text()
    found = read_manifest(tmp_path)
    assert found is not None and found[1] == manifest
    assert manifest.sha256 == hashlib.sha256((folder / "index.bin").read_bytes()).hexdigest()
