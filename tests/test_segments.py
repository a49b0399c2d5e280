"""Index segments: what the store's index log changed over a range, built
into a sealed index, written, installed elsewhere only when it verifies, and
read back as a chain that stops at the first gap or damaged segment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cluster.index.backends import FaissFlatIndex
from cluster.index.building import index_from_store, replay_index_log
from cluster.index.replica import ReplicaIndex
from cluster.index.segments import (
    SEGMENTS,
    SegmentManifest,
    build_segment,
    chain,
    chain_seq,
    install_segment,
    load_segments,
    write_segment,
)
from cluster.service.facade import StoryService
from tests.conftest import make_settings
from tests.test_store_contract import article

DIM = 256  # the hashing embedder's


@pytest.fixture
def service(tmp_path: Path) -> StoryService:
    return StoryService(make_settings(tmp_path)).open()


def _seq(service: StoryService) -> int:
    with service.store.read() as reader:
        return reader.index_seq()


def test_a_segment_holds_what_the_log_changed_over_its_range(service: StoryService,
                                                             tmp_path: Path) -> None:
    try:
        service.ingest([article(f"a{i}", hours=i) for i in range(20)])
        first = _seq(service)
        with service.store.read() as reader:
            base = index_from_store(reader, "auto", DIM)
        service.delete_article("a0")
        service.ingest([article(f"b{i}", hours=i) for i in range(6)])
        second = _seq(service)
        service.ingest([article(f"c{i}", hours=i) for i in range(3)])  # after the range
        with service.store.read() as reader:
            index, changed = build_segment(reader, first, second, "auto", DIM, 50_000, 32)
            stored = {article_id: reader.article_by_id(article_id)
                      for article_id in ("a0", "b0", "b5", "c0")}
            everything = index_from_store(reader, "auto", DIM)
        assert len(index) == 6 and len(changed) == 7  # six added, one removed
        assert stored["a0"] is None and stored["b0"] is not None and stored["b5"] is not None
        assert {stored["b0"].key, stored["b5"].key} <= set(changed.tolist())
        assert stored["c0"] is not None and stored["c0"].key not in changed.tolist()
        snapshot = tmp_path / "snap"
        write_segment(snapshot / SEGMENTS, index, changed, first, second)
        [(sealed, sealed_changed, manifest)] = load_segments(snapshot, first, DIM, 32)
        assert (manifest.from_seq, manifest.store_seq, manifest.count) == (first, second, 6)
        # the snapshot, its segment and the log past it make the whole index
        replica = ReplicaIndex.of_segments(base, [(sealed, sealed_changed)])
        with service.store.read() as reader:
            replay_index_log(replica, reader, second)
        assert len(replica) == len(everything) == 28
        queries = np.eye(DIM, dtype=np.float32)[:40]
        got, want = replica.search(queries, 40), everything.search(queries, 40)
        for row in range(len(queries)):
            assert _scored(got, row) == _scored(want, row)
    finally:
        service.close()


def _scored(found: tuple[np.ndarray, np.ndarray], row: int) -> dict[int, float]:
    scores, keys = found
    return {int(k): round(float(s), 5) for k, s in zip(keys[row], scores[row], strict=True)
            if k >= 0}


def _tiny_segment(snapshot: Path, since: int, until: int, key: int) -> SegmentManifest:
    index = FaissFlatIndex(4)
    index.add(np.array([key], dtype=np.int64), np.eye(4, dtype=np.float32)[key % 4:key % 4 + 1])
    return write_segment(snapshot / SEGMENTS, index, np.array([key], dtype=np.int64),
                         since, until)[1]


def test_the_chain_follows_the_ranges_and_stops_at_a_gap_or_a_damaged_segment(
    tmp_path: Path,
) -> None:
    snapshot = tmp_path / "snap"
    first = _tiny_segment(snapshot, 5, 9, 1)
    second = _tiny_segment(snapshot, 9, 12, 2)
    _tiny_segment(snapshot, 14, 20, 3)  # 12-14 was never published: a gap
    (snapshot / SEGMENTS / "seg-000000000030-half.tmp").mkdir()  # an interrupted install
    assert [m.name for _, m in chain(snapshot, 5)] == [first.name, second.name]
    assert chain_seq(snapshot, 5) == 12 and chain_seq(snapshot, 4) == 4
    assert [m.name for _, _, m in load_segments(snapshot, 5, 4, 8)] == [first.name, second.name]
    with open(snapshot / SEGMENTS / second.name / "index.bin", "r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\xff\xff\xff\xff")  # a torn write
    assert [m.name for _, _, m in load_segments(snapshot, 5, 4, 8)] == [first.name]
    assert chain_seq(snapshot, 5) == 9  # set aside: the next fetch installs it again


def test_a_fetched_segment_is_installed_only_when_it_verifies(tmp_path: Path) -> None:
    made = tmp_path / "made"
    manifest = _tiny_segment(made, 5, 9, 1)
    source = made / SEGMENTS / manifest.name
    changed = (source / "changed.npy").read_bytes()

    def copy_index(path: Path) -> None:
        path.write_bytes((source / "index.bin").read_bytes())

    snapshot = tmp_path / "snap"
    snapshot.mkdir()
    with pytest.raises(ValueError, match="checksum"):
        install_segment(snapshot, manifest, copy_index, changed[:-8] + bytes(8))
    with pytest.raises(ValueError, match="checksum"):
        install_segment(snapshot, manifest, lambda path: path.write_bytes(b"torn"), changed)
    assert not any((snapshot / SEGMENTS).iterdir())  # nothing half-installed
    install_segment(snapshot, manifest, copy_index, changed)
    [(index, keys, installed)] = load_segments(snapshot, 5, 4, 8)
    assert installed == manifest and keys.tolist() == [1] and len(index) == 1
    (snapshot / SEGMENTS / manifest.name / "index.bin").write_bytes(b"damaged")
    install_segment(snapshot, manifest, copy_index, changed)  # a fetch again mends it
    assert len(load_segments(snapshot, 5, 4, 8)) == 1
