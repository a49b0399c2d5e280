"""How a reader process keeps up with the writer: it follows the store.

The writer commits every change to the store before it acknowledges it, and
logs every change to the vector index in the store's index log. A reader
polls the store every ``poll_s``: it replays the index log's new entries
into its replica (``ReplicaIndex``), maps the writer's newer snapshot when
there is one, and rebuilds its clusterer's view of the joinable stories
when the stories changed, at most once every ``refresh_s`` and never
spending more than a tenth of a core on it (a rebuild reads every joinable
story; the index replay is incremental). Reads by id
go to the store itself and see every acknowledged write at once; searches
see it within ``poll_s`` plus the replay, and a story guess within
``refresh_s``. A client that must read its own write sends the sequence
number the write's response carried (``wait_for``).
"""

from __future__ import annotations

import logging
import threading
import time

from cluster.index.building import replay_index_log
from cluster.service.runtime import ServiceRuntime
from cluster.store import Reader

LOG = logging.getLogger(__name__)
RESTORE_SHARE = 10
SHELF_POLL_S = 5.0
"""How often a reader in queue mode asks the store for a newer published snapshot."""
"""Rebuilds of the stories are spaced at least this many times their own cost."""


class Follower:
    """Keeps one reader's index and clusterer up with the writer's commits."""

    def __init__(self, runtime: ServiceRuntime, poll_s: float, refresh_s: float) -> None:
        self._rt = runtime
        self.poll_s = poll_s
        self.refresh_s = refresh_s
        self._step = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._token: tuple[int, int, str | None] | None = None
        self._restored_at = time.monotonic()
        self._restore_cost = 0.0
        self.caught_up_at = time.monotonic()
        self.failures = 0
        self.store_seq = runtime.index_seq
        """The store's index log sequence at the last look."""

    # -- lifetime ------------------------------------------------------------
    def start(self) -> None:
        with self._rt.store.read() as reader:
            self._token = self._stories_token(reader)
        self._thread = threading.Thread(target=self._loop, name="follower", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.catch_up()
            except Exception:  # the store was busy or a snapshot was replaced: next poll
                self.failures += 1
                LOG.exception("reader: catching up with the store failed")

    # -- catching up ---------------------------------------------------------
    @staticmethod
    def _stories_token(reader: Reader) -> tuple[int, int, str | None]:
        """What changes whenever the clustering does: the index log, the
        story events and the stream clock."""
        return (reader.index_seq(), reader.story_event_seq(), reader.meta("stream_time"))

    def catch_up(self, force_stories: bool = False) -> int:
        """Bring the replica up to the store; returns the sequence reached."""
        rt = self._rt
        with self._step:
            self._take_newer_snapshot()
            with rt.store.read() as reader:
                token = self._stories_token(reader)
                seq = token[0]
                if seq > rt.index_seq:
                    replay_index_log(rt.index, reader, rt.index_seq)
                    rt.index_seq = seq
            self.store_seq = seq
            # at most once per refresh_s, and never more than a tenth of a core
            # (a rebuild reads every joinable story: ~75 ms at 100,000 articles)
            spacing = max(self.refresh_s, RESTORE_SHARE * self._restore_cost)
            due = force_stories or time.monotonic() - self._restored_at >= spacing
            if token != self._token and due:
                began = time.monotonic()
                rt.restore_clusterer()
                self._restore_cost = time.monotonic() - began
                self._token, self._restored_at = token, time.monotonic()
            self.caught_up_at = time.monotonic()
            return seq

    def _take_newer_snapshot(self) -> None:
        """Map the writer's newer snapshot, or the newer segments after it,
        so that the tail stays small and the vectors stay shared between
        readers."""
        rt = self._rt
        if not rt.newer_published(at_most_every_s=SHELF_POLL_S):
            return  # also while a snapshot is being replaced, or damaged: the tail serves
        index, snapshot_seq, seq = rt.load_replica()
        if snapshot_seq >= rt.snapshot_seq:
            rt.index, rt.snapshot_seq, rt.index_seq = index, snapshot_seq, seq

    def wait_for(self, seq: int, timeout: float, stories: bool = True) -> bool:
        """Catch up at least to ``seq`` (with ``stories``, the view of the
        stories too), within ``timeout`` seconds; False if the store has not
        reached it by then."""
        deadline = time.monotonic() + timeout
        while True:
            reached = self.catch_up(force_stories=stories)
            if reached >= seq:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(self.poll_s, 0.05))

    def behind(self) -> int:
        """Index log entries the store held at the last look that the replica
        has not replayed (0 right after a catch-up)."""
        return max(0, self.store_seq - self._rt.index_seq)

    def lag_seconds(self) -> float:
        """Seconds since the replica last caught up with the store."""
        return time.monotonic() - self.caught_up_at
