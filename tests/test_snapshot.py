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


def test_corrupt_manifest_is_reported(tmp_path: Path) -> None:
    write_snapshot(tmp_path, small_index(2), "m", store_seq=2)
    folder = tmp_path / (tmp_path / CURRENT).read_text()
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(IndexMismatch, match="unreadable"):
        read_manifest(tmp_path)
