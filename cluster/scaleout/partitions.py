"""A partitioned writer: P partitions, each the single writer of its share of
the stream, and one coordinator that joins the stories the partitions split
between them.

Every partition takes every accepted batch, in order, and clusters the
articles the routing plan gives it (``routing.py``) with the whole
single-machine runtime: its clusterer holds the stories it owns
(``story_partitions``), its index their articles, and it shares the store with the
others, each holding the store's lock shared and its own role's lock, so a
restarted partition can never write beside its predecessor. The
per-article work of a batch runs in parallel; what partitions share (story
rows, storylines, document frequencies, the index log) is written one
partition at a time, in the commit turn (``cluster/store/postgres.py``).

After each batch the partitions wait at a barrier: once every partition has
recorded the batch (``partition_progress``), the coordinator
(``coordinator.py``) joins the stories of different partitions that the
batch made one (the mutual or larger best match across partitions, as
measured in docs/SCALE_OUT.md), folding the smaller into the larger in the
store, and records the batch as reconciled with its folds
(``partition_barriers``, ``partition_folds``) in the same transaction. Each
partition then drops the absorbed stories it holds and reads the kept ones
back from the store before it takes the next batch. The stories therefore
depend on the input and its order alone, never on timing: the same batches
give the same stories.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cluster.scaleout.consumer import Consumed, delete_articles, ingest_run, keep_going
from cluster.scaleout.queue import Embedded, IngestQueue, OwnConnection
from cluster.scaleout.routing import PLAN_META, RoutingPlan, Share
from cluster.types import StoryId

if TYPE_CHECKING:
    import psycopg

    from cluster.service.facade import StoryService

LOG = logging.getLogger(__name__)
IDLE_WAIT_S = 0.02
"""How often a partition waiting at a barrier looks again."""


@dataclass(frozen=True)
class Folds:
    """The coordinator's folds at one barrier: (kept, absorbed) stories, and the
    index log entries (after, up to) that moved the absorbed stories' articles
    to the index of the kept story's partition."""

    pairs: list[tuple[StoryId, StoryId]]
    index_span: tuple[int, int]


class PartitionLedger:
    """The partitions' and the coordinator's shared record, over a connection
    of its own: the routing plan, each partition's progress, the barriers."""

    def __init__(self, url: str, name: str = "newsclusters ledger") -> None:
        self.url = url
        self.name = name
        self._own = OwnConnection(url, name)
        self._lock = self._own.lock

    def _db(self) -> psycopg.Connection[Any]:
        return self._own.db()

    def plan(self) -> RoutingPlan | None:
        with self._lock:
            row = self._db().execute("SELECT value FROM meta WHERE key = %s",
                                     (PLAN_META,)).fetchone()
        return None if row is None else RoutingPlan.from_json(str(row[0]))

    def settled_plan(self) -> RoutingPlan | None:
        """The routing plan, once every live story has an owner. The
        coordinator gives owners to the stories a single writer made when it
        starts; a partition that loaded before that would hold none of them."""
        plan = self.plan()
        if plan is None:
            return None
        with self._lock:
            unowned = self._db().execute(
                "SELECT 1 FROM stories WHERE status IN ('active', 'dormant') "
                "AND article_count > 0 AND NOT EXISTS (SELECT 1 FROM story_partitions "
                "WHERE story_partitions.story_id = stories.id) LIMIT 1").fetchone()
        return plan if unowned is None else None

    def progress(self) -> dict[int, int]:
        """The last batch each partition clustered."""
        with self._lock:
            rows = self._db().execute("SELECT partition, batch FROM partition_progress").fetchall()
        return {int(p): int(b) for p, b in rows}

    def record(self, partition: int, batch: int) -> None:
        with self._lock:
            self._db().execute(
                "INSERT INTO partition_progress (partition, batch) VALUES (%s, %s) "
                "ON CONFLICT (partition) DO UPDATE SET batch = GREATEST("
                "partition_progress.batch, excluded.batch)", (partition, batch))

    def reconciled(self, batch: int) -> bool:
        with self._lock:
            return self._db().execute("SELECT 1 FROM partition_barriers WHERE batch = %s",
                                      (batch,)).fetchone() is not None

    def last_barrier(self) -> tuple[int, int] | None:
        """(batch, story event number) of the newest barrier."""
        with self._lock:
            row = self._db().execute("SELECT batch, event_seq FROM partition_barriers "
                                     "ORDER BY batch DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def folds(self, batch: int) -> Folds:
        """What the coordinator folded at this batch's barrier."""
        with self._lock:
            rows = self._db().execute(
                "SELECT keep, absorb FROM partition_folds WHERE batch = %s ORDER BY absorb",
                (batch,)).fetchall()
            span = self._db().execute(
                "SELECT index_from, index_to FROM partition_barriers WHERE batch = %s",
                (batch,)).fetchone()
        return Folds([(StoryId(int(k)), StoryId(int(a))) for k, a in rows],
                     (0, 0) if span is None else (int(span[0]), int(span[1])))

    def close(self) -> None:
        self._own.close()


class PartitionConsumer:
    """One partition's side of the queue: every batch in order, its own share
    of each, and a wait at the barrier after each."""

    def __init__(self, service: StoryService, queue: IngestQueue, ledger: PartitionLedger,
                 share: Share) -> None:
        self.service = service
        self.queue = queue
        self.ledger = ledger
        self.share = share
        self.totals = Consumed()
        self.batches = 0
        self.waited_s = 0.0
        """Seconds spent waiting at barriers."""
        self._waiting_since: float | None = None
        self._last: int | None = None
        self._started = False
        self._applied: int | None = None

    def consume_some(self) -> int:
        """Cluster this partition's share of the next batch, once the batch before
        it is reconciled; how many articles of the batch it looked at (0: none
        ready, or waiting at the barrier)."""
        if not self._started:
            self._last = self.ledger.progress().get(self.share.index)
            self._started = True
        last = self._last
        if last is not None and self._applied != last:
            if not self.ledger.reconciled(last):
                if self._waiting_since is None:
                    self._waiting_since = time.perf_counter()
                return 0  # at the barrier
            if self._waiting_since is not None:
                self.waited_s += time.perf_counter() - self._waiting_since
                self._waiting_since = None
            # reading folds back is idempotent, so a restart may apply them again
            folds = self.ledger.folds(last)
            self.service.apply_folds(folds.pairs, folds.index_span, self.share.index)
            self._applied = last
        found = self.queue.batch_after(last)
        if found is None:
            return 0
        batch, run = found
        if run[0].deleted is not None:
            self._delete(run)
        else:
            mine = self._mine(run)
            if mine:
                ingest_run(self.service, mine, self.totals)
        # before the record: the coordinator's folds for this batch come after it
        self.service.hold_snapshots()
        self.ledger.record(self.share.index, batch)
        self._last = batch
        self.batches += 1
        return len(run)

    def _mine(self, run: list[Embedded]) -> list[Embedded]:
        """The articles of a batch this partition clusters: new ones routed to
        it, and stored ones (a new version) whose story it owns, so that only
        a story's owner ever changes it."""
        routed = self.share.owns(_vectors(run)).tolist()
        owners = self.service.owners_of_articles([item.article.id for item in run])
        return [item for item, here in zip(run, routed, strict=True)
                if owners.get(item.article.id, self.share.index if here else -1)
                == self.share.index]

    def _delete(self, run: list[Embedded]) -> None:
        """The partition that owns an article's story deletes it; the others let
        the article's entry in their index be (its story is not theirs, so it
        never places anything)."""
        owners = self.service.owners_of_articles(
            [item.deleted for item in run if item.deleted is not None])
        delete_articles(self.service, [item.deleted for item in run if item.deleted
                                       and owners.get(item.deleted) == self.share.index],
                        self.totals)

    def run(self, stop: threading.Event) -> Consumed:
        """Consume until ``stop`` is set."""
        keep_going(stop, self.consume_some, f"{self.share.role}: a batch failed; retrying",
                   IDLE_WAIT_S)
        return self.totals

def _vectors(run: list[Embedded]) -> Any:
    import numpy as np

    return np.stack([item.vector for item in run])
