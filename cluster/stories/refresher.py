"""Story presentation (headline, label, summary, sources, hotness) off the
ingest path.

Every change marks a story dirty in the store (durably, in the same
transaction as the change). Presenting is derived work: it can run inside
each ingest batch (``presentation_delay_s`` 0: a story's label is current
when the write returns) or in a background thread that lets changed stories
settle first. Under a steady stream a story changes many times a minute;
presenting it once per settle period instead of once per batch is what keeps
the write path close to the cost of storing and assigning (a third of the
ingest time went to re-presenting stories that changed again in the next
batch). Until a story is presented, readers see its previous presentation (a
brand-new story: its first article's title stands in for the headline).

The background thread presents in small chunks, taking the service's write
lock per chunk, so an ingest batch never waits for more than one chunk. By
default the chunk is computed by a worker process (``presentation_worker``),
and the lock is held only to claim the chunk and to write the result.
Nothing is lost on a crash: dirty flags and claims are in the store and the
next start presents what is left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from cluster.clustering.online import OnlineClusterer
from cluster.store import Writer
from cluster.stories.presentation import refresh_presentation
from cluster.text.lexical import TermStats

LOG = logging.getLogger(__name__)

CHUNK = 64
"""Stories presented per write transaction by the background thread."""


def present_dirty(
    writer: Writer, clusterer: OnlineClusterer, terms: TermStats, half_life_hours: float,
    limit: int = -1,
) -> bool:
    """Present up to ``limit`` changed stories (all with -1); True if more wait."""
    wanted = writer.dirty_stories(limit if limit < 0 else limit + 1)
    more = 0 <= limit < len(wanted)
    for story_id in wanted[:limit] if more else wanted:
        state = clusterer.story(story_id)
        refresh_presentation(writer, story_id, state.direction if state else None,
                             terms, half_life_hours)
    return more


class BackgroundPresenter:
    """A daemon thread that presents changed stories once they settle.

    ``present_some(limit)`` presents up to ``limit`` stories in one
    transaction and says whether more wait; ``waiting()`` says how many wait
    now; ``flush()``, if given, ends every round (writes what is in flight).
    After a ``notify`` the thread waits until no further notification came
    for ``delay_s`` (at most ``max_wait_s`` under a continuous stream), then
    presents what is dirty, chunk by chunk."""

    def __init__(
        self, present_some: Callable[[int], bool], delay_s: float,
        max_wait_s: float | None = None, chunk: int = CHUNK,
        waiting: Callable[[], int] | None = None, flush: Callable[[], None] | None = None,
    ) -> None:
        self._present_some = present_some
        self._waiting = waiting
        self._flush = flush
        self.delay_s = delay_s
        self.max_wait_s = max_wait_s if max_wait_s is not None else max(5.0 * delay_s, delay_s)
        self.chunk = chunk
        self._changed = threading.Condition()
        self._requested = 0  # notifications so far
        self._presented = 0  # every notification up to this one is presented
        self._stopping = False
        self._hurry = False  # present what is waiting now, without settling
        self._thread = threading.Thread(target=self._run, name="story-presenter", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Stories changed (and the change is committed): present them once they settle."""
        with self._changed:
            self._requested += 1
            self._changed.notify_all()

    def wait_idle(self, timeout: float | None = None, hurry: bool = False) -> bool:
        """Block until everything notified so far has been presented. With
        ``hurry``, what waits is presented now instead of after it settles
        (the end of an import: nothing more is coming)."""
        with self._changed:
            target = self._requested
            if hurry:
                self._hurry = True
                self._changed.notify_all()
            try:
                return self._changed.wait_for(
                    lambda: self._presented >= target or self._stopping, timeout)
            finally:
                if hurry:
                    self._hurry = False

    def stop(self) -> None:
        """Stop after the chunk in progress; what is left stays dirty in the store."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(
                    lambda: self._requested > self._presented or self._stopping)
                if self._stopping:
                    return
            self._settle()
            with self._changed:
                target = self._requested
            if self._drain():
                with self._changed:
                    self._presented = max(self._presented, target)
                    self._changed.notify_all()
            else:
                with self._changed:  # a failure: the stories stay dirty, retry later
                    self._changed.wait_for(lambda: self._stopping, min(self.max_wait_s, 5.0))

    def _settle(self) -> None:
        """Wait until no change came for ``delay_s``, or ``max_wait_s`` passed."""
        deadline = time.monotonic() + self.max_wait_s
        with self._changed:
            while not self._stopping and not self._hurry:
                seen = self._requested
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._changed.wait(min(self.delay_s, left))
                if self._requested == seen:
                    return

    def _drain(self) -> bool:
        """Present what waited when the round began (``waiting``), not what
        changes meanwhile: under a steady stream that would keep presenting each
        story as soon as it changes, undoing the settling."""
        try:
            budget = self._waiting() if self._waiting is not None else None
            while not self._stopping and (budget is None or budget > 0):
                if not self._present_some(self.chunk):
                    break
                if budget is not None:
                    budget -= self.chunk
            if self._flush is not None:
                self._flush()
        except Exception:
            LOG.exception("presenting changed stories failed")
            return False
        return True
