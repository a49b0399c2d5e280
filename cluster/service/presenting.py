"""When stories are presented (headline, label, summary, sources): inside
each write, or in the background once changes settle, by a thread or by a
worker process (cluster/stories/refresher.py and cluster/stories/worker.py
say how; this part only chooses and drives them)."""

from __future__ import annotations

from cluster.service.runtime import ServiceRuntime
from cluster.stories.refresher import CHUNK as THREAD_CHUNK
from cluster.stories.refresher import BackgroundPresenter, present_dirty
from cluster.stories.worker import PresentationWorker, WorkerRounds, leave_a_core_to_the_worker
from cluster.types import Progress

REFRESH_CHUNK = 256
"""Stories presented per transaction by ``refresh_all``."""
WORKER_CHUNK = 512
"""Stories per request to the presentation worker (about 0.5 s of its time): at
least what an ingest batch changes, since each round waits for one batch."""


class PresentationScheduler:
    """Presents changed stories: per write (``inline``), or in the background."""

    def __init__(self, runtime: ServiceRuntime, per_batch: bool) -> None:
        self._rt = runtime
        # Off only where nobody reads between writes (evaluation): stories then
        # get their labels and summaries from one refresh_all() at the end.
        self._per_batch = per_batch
        self._background: BackgroundPresenter | None = None
        self._worker: WorkerRounds | None = None

    @property
    def inline(self) -> bool:
        """Whether each write presents the stories it changed itself."""
        return self._per_batch and self._background is None

    @property
    def worker(self) -> PresentationWorker | None:
        """The worker process, when presentation runs in one."""
        return None if self._worker is None else self._worker.worker

    def start(self) -> None:
        """Start presenting in the background when the settings ask for it."""
        settings = self._rt.settings
        if not self._per_batch or settings.presentation_delay_s <= 0:
            return
        present, chunk, flush = self._present_some, THREAD_CHUNK, None
        if settings.presentation_worker == "process":
            leave_a_core_to_the_worker()
            self._worker = WorkerRounds(
                PresentationWorker(settings.store_location), self._rt.locked_write,
                settings.hotness_half_life_hours, lambda: self._rt.terms.documents)
            present, chunk, flush = self._worker.present_some, WORKER_CHUNK, self._worker.flush
        self._background = BackgroundPresenter(
            present, settings.presentation_delay_s, chunk=chunk,
            waiting=self.waiting, flush=flush)

    def notify(self) -> None:
        """A write committed: its changed stories are due."""
        if self._background is not None:
            self._background.notify()

    def waiting(self) -> int:
        """Stories changed and not yet presented."""
        with self._rt.store.read() as reader:
            return reader.dirty_story_count()

    def _present_some(self, limit: int) -> bool:
        rt = self._rt
        with rt.locked_write() as writer:
            return present_dirty(writer, rt.clusterer, rt.terms,
                                 rt.settings.hotness_half_life_hours, limit)

    def refresh_all(self, progress: Progress | None = None) -> None:
        """Present every changed story now, in chunks: an interruption keeps
        what was done."""
        total = self.waiting()
        done = 0
        while self._present_some(REFRESH_CHUNK):
            done += REFRESH_CHUNK
            if progress:
                progress(min(done, total), total)
        if progress:
            progress(total, total)

    def wait(self, timeout: float | None = None, hurry: bool = False) -> bool:
        """Block until every change so far is presented; with ``hurry``,
        without waiting for the changes to settle first."""
        return self._background is None or self._background.wait_idle(timeout, hurry)

    def close(self) -> None:
        """Stop the thread and the worker (changed stories stay marked in the store)."""
        if self._background is not None:
            self._background.stop()
            self._background = None
        if self._worker is not None:
            self._worker.close()
            self._worker = None
