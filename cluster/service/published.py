"""The indexes a writer publishes in a PostgreSQL store, from both sides.

The writer (or each partition of a partitioned writer) publishes what it
snapshots (cluster/scaleout/snapshot_shelf.py). A reader in queue mode,
which shares no folder with any writer, fetches every published index into
its own ``index_dir``: the one writer's into the folder itself, each
partition's into ``<index_dir>/partition-<n>``. It maps all of them as the
sealed parts of one replica (each a snapshot and its segments; partitions
hold different articles) and replays the store's index log from the
oldest point any of them reaches: a key changed after that point is then
held once, in the tail, whichever partition's index held it before.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cluster.index.replica import ReplicaIndex
from cluster.index.segments import current_reach, current_segments
from cluster.index.snapshot import load_snapshot
from cluster.settings import Settings
from cluster.store import Reader, Store

if TYPE_CHECKING:
    from cluster.index.backends import KeyArray, VectorIndex
    from cluster.scaleout.snapshot_shelf import BackgroundPublisher, SnapshotShelf

LOG = logging.getLogger(__name__)


def publishes(settings: Settings, read_only: bool) -> bool:
    """Whether indexes are published here: by the writers of a PostgreSQL store,
    and fetched by its readers in queue mode (no writer shares their machine)."""
    from cluster.store.opening import is_postgres

    return is_postgres(settings.store_location) and (
        not read_only or settings.writes == "queue")


def shelf(settings: Settings, role: str | None = None) -> SnapshotShelf:
    from cluster.scaleout.snapshot_shelf import SegmentPolicy, SnapshotShelf

    return SnapshotShelf(settings.store_location, SegmentPolicy(
        settings.snapshot_segments, settings.snapshot_segment_share, settings.index_backend,
        settings.ivf_threshold, settings.index_nprobe), role)


def publisher(settings: Settings, role: str | None) -> BackgroundPublisher:
    """Publishes ``settings.index_dir``'s snapshots as ``role``'s index."""
    from cluster.scaleout.snapshot_shelf import BackgroundPublisher

    return BackgroundPublisher(shelf(settings, role), settings.index_dir)


def roles(reader: Reader) -> list[str | None]:
    """Whose indexes are published: the one writer's, or each partition's."""
    from cluster.scaleout.routing import PLAN_META, RoutingPlan

    plan = reader.meta(PLAN_META)
    if plan is None:
        return [None]
    return [f"partition-{n}" for n in range(RoutingPlan.from_json(plan).partitions)]


def folder(settings: Settings, role: str | None) -> Path:
    return settings.index_dir if role is None else settings.index_dir / role


@dataclass
class PublishedIndexes:
    """A reader's copies of the published indexes."""

    settings: Settings
    store: Store
    roles: list[str | None] = field(default_factory=lambda: [None])
    checked_at: float = 0.0
    loaded_reaches: tuple[int, ...] = field(default_factory=tuple)

    def fetch(self, at_most_every_s: float = 0.0) -> bool:
        """Install what was published since the last look; True if anything was."""
        now = time.monotonic()
        if now - self.checked_at < at_most_every_s:
            return False
        self.checked_at = now
        if self.roles == [None]:  # a partitioned writer's plan may have come since
            with self.store.read() as reader:
                self.roles = roles(reader)
        fetched = False
        for role in self.roles:
            try:
                fetched |= shelf(self.settings, role).fetch(folder(self.settings, role))
            except Exception:  # the store is busy or the snapshot went: the tail serves
                LOG.exception("index: fetching the published index of %s failed",
                              role or "the writer")
        return fetched

    def reaches(self) -> tuple[int, ...]:
        """How far each local copy reaches in the store's sequence (0: none)."""
        return tuple(current_reach(folder(self.settings, role)) for role in self.roles)

    def newer(self) -> bool:
        """Whether every role has a local copy and one reaches further than the
        replica mapped (or the replica maps none yet)."""
        now = self.reaches()
        if 0 in now:
            return False  # one is missing or being replaced: keep what is mapped
        if len(self.loaded_reaches) != len(now):
            return True
        return any(a > b for a, b in zip(now, self.loaded_reaches, strict=True))

    def load(self, model: str, dimension: int) -> tuple[ReplicaIndex, int] | None:
        """Every copy, mapped, as one replica, and the sequence to replay the
        log from; None unless every role's copy is readable."""
        settings = self.settings
        chains: list[tuple[VectorIndex, list[tuple[VectorIndex, KeyArray]]]] = []
        reaches: list[int] = []
        for role in self.roles:
            place = folder(settings, role)
            loaded = load_snapshot(place, model, dimension, settings.index_backend,
                                   settings.index_nprobe, mapped=True, owner=False)
            if loaded is None:
                return None
            segments = current_segments(place, loaded[1], dimension, settings.index_nprobe)
            chains.append((loaded[0], [(index, changed) for index, changed, _ in segments]))
            reaches.append(segments[-1][2].store_seq if segments else loaded[1].store_seq)
        self.loaded_reaches = tuple(reaches)
        return ReplicaIndex.of_chains(chains), min(reaches)
