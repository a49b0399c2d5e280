"""The coordinator of a partitioned writer (see ``partitions.py``): it makes
the routing plan, then reconciles after every batch.

Reconciling joins stories that routing split between partitions. After a
batch, each story that changed is compared with the live stories of the
other partitions (centroid cosine; only stories whose spans lie within a day
of each other, where both are dated). It joins its best match there when
the cosine reaches ``JOIN_COSINE`` and either each is the other's best match
across the two partitions, or the match is the larger story (so that the
fragments of one large story can all join it, while a chain runs only from
smaller stories to larger ones). Pairs are taken best first, each story in
one pair at most; the smaller story is folded into the larger in the store,
and its id answers with ``merged_into`` as after any merge. Measured offline
on the labelled files (docs/SCALE_OUT.md), this rule brought two partitions
routed by content to within 0.01 BCubed F1 of one writer.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from cluster.errors import ConfigurationError
from cluster.scaleout.partitions import IDLE_WAIT_S, PartitionLedger
from cluster.scaleout.queue import IngestQueue
from cluster.scaleout.routing import CELLS_PER_PARTITION, PLAN_META, RoutingPlan, train_plan
from cluster.service.storyline_linking import storylines_after_merge
from cluster.settings import Settings
from cluster.store import Writer
from cluster.store.opening import open_store
from cluster.types import StoryId

LOG = logging.getLogger(__name__)
ROLE = "coordinator"
JOIN_COSINE = 0.6
MAX_GAP_S = 86_400.0
PLAN_SAMPLE = 2_000
"""Articles the routing plan is trained on: the first stored, then the first queued."""


@dataclass
class _Story:
    partition: int
    count: int
    total: np.ndarray
    first: float | None
    last: float | None


class Coordinator:
    def __init__(self, settings: Settings, partitions: int, queue: IngestQueue,
                 ledger: PartitionLedger, plan_sample: int = PLAN_SAMPLE) -> None:
        if partitions < 2:
            raise ConfigurationError("a partitioned writer has two partitions or more")
        self.settings = settings
        self.partitions = partitions
        self.queue = queue
        self.ledger = ledger
        self.plan_sample = plan_sample
        self.store = open_store(settings.store_location, role=ROLE)
        self.plan: RoutingPlan | None = None
        self.barriers = 0
        self.folds = 0
        self._stories: dict[StoryId, _Story] = {}
        self._last: int | None = None
        self._event_seq = 0

    # -- the routing plan ----------------------------------------------------
    def prepare(self) -> RoutingPlan | None:
        """The plan the partitions route by: the stored one, or one trained on
        the first articles once they are embedded (None until then). Live
        stories no partition owns yet (a single writer's) go to the partition
        their centroid routes to, in the same write as a new plan."""
        if self.plan is not None:
            return self.plan
        plan = self.ledger.plan()
        if plan is not None and plan.partitions != self.partitions:
            raise ConfigurationError(
                f"the store's routing plan has {plan.partitions} partitions, not "
                f"{self.partitions}: change the number of partitions on a drained queue, "
                "after removing the plan")
        fresh = plan is None
        if plan is None:
            sample = self._sample()
            if sample is None:
                return None
            plan = train_plan(sample, self.partitions)
        with self.store.write() as writer:
            owners = writer.story_partitions()
            unowned = [(story, total) for story, _, total, _, _ in writer.live_story_states()
                       if story not in owners]
            if unowned:
                routes = plan.route(np.stack([total for _, total in unowned]))
                for (story, _), route in zip(unowned, routes.tolist(), strict=True):
                    writer.set_story_partition(story, route)
            if fresh:
                writer.set_meta(PLAN_META, plan.to_json())
        self._load()
        self.plan = plan
        LOG.info("coordinator: routing plan %d for %d partitions%s", plan.version,
                 plan.partitions, f"; {len(unowned)} stories given owners" if unowned else "")
        return plan

    def _sample(self) -> np.ndarray | None:
        vectors: list[np.ndarray] = []
        with self.store.read() as reader:
            for _, block in reader.iter_vectors():
                vectors.extend(block)
                if len(vectors) >= self.plan_sample:
                    break
        wanted = self.plan_sample - len(vectors)
        if wanted > 0:
            queued, embedded = self.queue.first_vectors(wanted)
            if len(embedded) < min(wanted, queued):
                return None  # the first articles are not all embedded yet
            vectors.extend(embedded)
        if len(vectors) < self.partitions * CELLS_PER_PARTITION:
            return None
        return np.stack(vectors[:self.plan_sample])

    def _load(self) -> None:
        with self.store.read() as reader:
            owners = reader.story_partitions()
            self._stories = {
                story: _Story(owners[story], count, np.asarray(total, dtype=np.float64),
                              first, last)
                for story, count, total, first, last in reader.live_story_states()
                if story in owners}
            barrier = self.ledger.last_barrier()
            if barrier is None:
                self._last, self._event_seq = None, reader.story_event_seq()
            else:
                self._last, self._event_seq = barrier

    # -- barriers --------------------------------------------------------------
    def reconcile_some(self) -> int:
        """Reconcile the next batch once every partition has clustered it; how
        many batches (0 or 1)."""
        if self.prepare() is None:
            return 0
        batch = self.queue.oldest_batch_after(self._last)
        if batch is None:
            return 0
        progress = self.ledger.progress()
        if min(progress.get(p, -1) for p in range(self.partitions)) < batch:
            return 0
        with self.store.write() as writer:
            seq, changed = writer.stories_changed_since(self._event_seq)
            self._refresh(writer, changed)
            folds = self._matches(changed)
            clock = writer.meta("stream_time")
            now = time.time() if clock is None else float(clock)
            index_from = writer.index_seq()
            done = [(keep, absorb) for keep, absorb in folds
                    if self._fold(writer, keep, absorb, now)]
            writer.execute("INSERT INTO partition_barriers (batch, event_seq, index_from, "
                           "index_to, at) VALUES (?, ?, ?, ?, ?)",
                           (batch, seq, index_from, writer.index_seq(), time.time()))
            for keep, absorb in done:
                writer.execute("INSERT INTO partition_folds (batch, absorb, keep) "
                               "VALUES (?, ?, ?)", (batch, absorb, keep))
        self.queue.drop_batch(batch)
        self._last, self._event_seq = batch, seq
        self.barriers += 1
        self.folds += len(done)
        return 1

    def _refresh(self, writer: Writer, changed: list[StoryId]) -> None:
        """The changed stories' rows as they are now (gone: no longer live)."""
        if not changed:
            return
        rows = writer.story_centroids(changed)
        owners = writer.story_partitions(changed)
        for story in changed:
            row = rows.get(story)
            owner = owners.get(story, self._stories[story].partition
                               if story in self._stories else None)
            if row is None or owner is None:
                self._stories.pop(story, None)
                continue
            count, total, first, last = row
            self._stories[story] = _Story(owner, count, np.asarray(total, dtype=np.float64),
                                          first, last)

    def _matches(self, changed: list[StoryId]) -> list[tuple[StoryId, StoryId]]:
        """(keep, absorb) pairs to fold, best first, each story in one at most."""
        live = [story for story in changed if story in self._stories]
        if not live or len(self._stories) < 2:
            return []
        ids = np.array(list(self._stories), dtype=np.int64)
        stories = list(self._stories.values())
        parts = np.array([s.partition for s in stories])
        counts = np.array([s.count for s in stories])
        first = np.array([np.nan if s.first is None else s.first for s in stories])
        last = np.array([np.nan if s.last is None else (s.last if s.last is not None else
                                                         s.first) for s in stories])
        last = np.where(np.isnan(last), first, last)
        totals = np.stack([s.total for s in stories])
        norms = np.linalg.norm(totals, axis=1, keepdims=True)
        directions = totals / np.where(norms == 0, 1.0, norms)
        position = {int(story): n for n, story in enumerate(ids.tolist())}

        def best(row: int, among: np.ndarray) -> int | None:
            """The best match of story ``row`` among the stories ``among`` masks
            that lie near it in time (ties to the lower id)."""
            near = among & _near(first, last, row)
            if not near.any():
                return None
            candidates = np.flatnonzero(near)
            scores = directions[candidates] @ directions[row]
            top = scores.max()
            return int(candidates[scores == top][np.argmin(ids[candidates[scores == top]])])

        pairs: list[tuple[float, int, int]] = []
        for story in live:
            row = position[story]
            match = best(row, parts != parts[row])
            if match is None:
                continue
            cosine = float(directions[match] @ directions[row])
            if cosine < JOIN_COSINE:
                continue
            back = best(match, parts == parts[row])
            if back == row or counts[match] > counts[row]:
                pairs.append((cosine, min(int(ids[row]), int(ids[match])),
                              max(int(ids[row]), int(ids[match]))))
        taken: set[int] = set()
        folds: list[tuple[StoryId, StoryId]] = []
        for _, a, b in sorted(set(pairs), key=lambda p: (-p[0], p[1], p[2])):
            if a in taken or b in taken:
                continue
            taken.update((a, b))
            a_count, b_count = counts[position[a]], counts[position[b]]
            keep, absorb = (a, b) if a_count >= b_count else (b, a)
            folds.append((StoryId(keep), StoryId(absorb)))
        return folds

    def _fold(self, writer: Writer, keep: StoryId, absorb: StoryId, now: float) -> bool:
        """Fold story ``absorb`` into ``keep`` in the store, as a merge does."""
        kept, absorbed = writer.story(keep), writer.story(absorb)
        live = ("active", "dormant")
        if kept is None or absorbed is None or kept.status not in live \
                or absorbed.status not in live:
            return False
        moved = writer.member_keys(absorb)
        writer.move_assignments(absorb, keep)
        for key in moved:  # they move to the index of the kept story's partition
            writer.log_index(key, "add")
        total = (np.asarray(kept.centroid_sum, dtype=np.float64)
                 + np.asarray(absorbed.centroid_sum, dtype=np.float64))
        firsts = [t for t in (kept.first_seen, absorbed.first_seen) if t is not None]
        lasts = [t for t in (kept.last_updated, absorbed.last_updated) if t is not None]
        status = "active" if "active" in (kept.status, absorbed.status) else kept.status
        count = kept.article_count + absorbed.article_count
        writer.save_story(keep, status=status, first_seen=min(firsts, default=None),
                          last_updated=max(lasts, default=None),
                          activity=max(kept.activity, absorbed.activity), article_count=count,
                          centroid_sum=total)
        writer.set_status(absorb, "merged")
        writer.save_story(absorb, status="merged", first_seen=absorbed.first_seen,
                          last_updated=absorbed.last_updated, activity=absorbed.activity,
                          article_count=0, centroid_sum=absorbed.centroid_sum,
                          merged_into=keep)
        writer.add_event(keep, "merged", now, other_id=absorb)
        writer.add_event(absorb, "merged", now, other_id=keep)
        if self.settings.cluster.storyline_threshold <= 1.0:
            storylines_after_merge(writer, keep, absorb)
        writer.forget_presented_count(keep)  # a merged story is relabelled
        self._stories[keep] = _Story(self._stories[keep].partition, count, total,
                                     min(firsts, default=None), max(lasts, default=None))
        self._stories.pop(absorb, None)
        return True

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if self.reconcile_some() == 0:
                    stop.wait(IDLE_WAIT_S)
            except Exception:
                LOG.exception("coordinator: a barrier failed; retrying")
                stop.wait(1.0)

    def status(self) -> dict[str, Any]:
        return {"barriers": self.barriers, "folds": self.folds, "last_batch": self._last}

    def close(self) -> None:
        self.store.close()


def _near(first: np.ndarray, last: np.ndarray, row: int) -> np.ndarray:
    """Which stories' spans lie within ``MAX_GAP_S`` of story ``row``'s (all,
    where either is undated)."""
    if np.isnan(first[row]):
        return np.ones(len(first), dtype=bool)
    gap = np.maximum(0.0, np.maximum(first[row] - last, first - last[row]))
    return np.asarray(np.isnan(first) | (gap <= MAX_GAP_S))
