"""The coordinator of a partitioned writer (see ``partitions.py``): it makes
the routing plan, then reconciles after every batch.

Reconciling joins stories that routing split between partitions. After a
batch, each story that changed is compared with the live stories of the
other partitions (centroid cosine; only stories whose spans lie within a day
of each other, where both are dated). It joins its best match there when
the cosine reaches 0.6 (``reconciling.py``) and either each is the other's best match
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
from typing import Any

import numpy as np

from cluster.errors import ConfigurationError
from cluster.scaleout.consumer import keep_going
from cluster.scaleout.partitions import IDLE_WAIT_S, PartitionLedger
from cluster.scaleout.queue import IngestQueue
from cluster.scaleout.reconciling import LiveStories
from cluster.scaleout.routing import CELLS_PER_PARTITION, PLAN_META, RoutingPlan, train_plan
from cluster.service.storyline_linking import storylines_after_merge
from cluster.settings import Settings
from cluster.store import Writer
from cluster.store.opening import open_store
from cluster.types import StoryId

LOG = logging.getLogger(__name__)
ROLE = "coordinator"
PLAN_SAMPLE = 2_000
"""Articles the routing plan is trained on: the first stored, then the first queued."""


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
        self.busy_s = 0.0
        """Seconds spent reconciling (the partitions wait meanwhile)."""
        self._stories = LiveStories(0)
        self._last: int | None = None
        self._event_seq = 0
        self._tidied = False

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
            stories: LiveStories | None = None
            for story, count, total, first, last in reader.live_story_states():
                if stories is None:
                    stories = LiveStories(len(total))
                if story in owners:
                    stories.put(story, owners[story], count, total, first, last)
            dimension = reader.meta("dimension")
            self._stories = stories or LiveStories(int(dimension) if dimension else 0)
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
        if not self._tidied and self._last is not None:
            # a coordinator stopped between a barrier and its queue's cleanup
            self.queue.drop_through(self._last)
            self._tidied = True
        batch = self.queue.oldest_batch_after(self._last)
        if batch is None:
            return 0
        progress = self.ledger.progress()
        if min(progress.get(p, -1) for p in range(self.partitions)) < batch:
            return 0
        started = time.perf_counter()
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
        self.queue.drop_through(batch)
        self._last, self._event_seq = batch, seq
        self.barriers += 1
        self.folds += len(done)
        self.busy_s += time.perf_counter() - started
        return 1

    def _refresh(self, writer: Writer, changed: list[StoryId]) -> None:
        """The changed stories' rows as they are now (gone: no longer live)."""
        if not changed:
            return
        rows = writer.story_centroids(changed)
        owners = writer.story_partitions(changed)
        for story in changed:
            row = rows.get(story)
            owner = owners.get(story, self._stories.partition(story)
                               if story in self._stories else None)
            if row is None or owner is None:
                self._stories.remove(story)
                continue
            if self._stories.dimension == 0:
                self._stories = LiveStories(len(row[1]))
            count, total, first, last = row
            self._stories.put(story, owner, count, total, first, last)

    def _matches(self, changed: list[StoryId]) -> list[tuple[StoryId, StoryId]]:
        return self._stories.matches(changed)

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
        self._stories.put(keep, self._stories.partition(keep), count, total,
                          min(firsts, default=None), max(lasts, default=None))
        self._stories.remove(absorb)
        return True

    def run(self, stop: threading.Event) -> None:
        keep_going(stop, self.reconcile_some, "coordinator: a barrier failed; retrying",
                   IDLE_WAIT_S)

    def status(self) -> dict[str, Any]:
        return {"barriers": self.barriers, "folds": self.folds, "last_batch": self._last,
                "reconciling_s": round(self.busy_s, 1)}

    def close(self) -> None:
        self.store.close()

