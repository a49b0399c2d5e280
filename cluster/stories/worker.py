"""Story presentation in a worker process.

Presenting (labels, summaries, headlines) is pure Python and, in a thread,
competes with the ingest path for the interpreter lock: at 100,000 stored
articles the write path alone ran at about 555 articles/s and 339 with the
presentation thread beside it. A worker process computes presentations on
another core instead. It only reads the store (WAL readers never block the
writer), so the service's part shrinks to one short write transaction per
chunk (``WorkerRounds``): write what the worker computed for the previous
chunk (``Writer.set_story_presentation(claimed=True)``) and claim the next
(``Writer.claim_for_presentation``). One, not two: each write waits for the
ingest batch in progress, and with a claim and a write per chunk the worker
spent most of its time waiting for batches (1.3 s per 128-story chunk, of
which 0.18 s computing).

The worker needs nothing the store does not hold: members, vectors, the
story's centroid sum and the document frequencies (``term_df``, reloaded
when the corpus grew by ``RELOAD_GROWTH`` since the last load; labels weigh
terms by idf, which moves slowly).

If the worker dies, the request fails, the claimed stories are marked dirty
again and the next request starts a new worker. If the service dies, the
worker reads end-of-file on its pipe and exits.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, suppress
from multiprocessing.connection import Connection
from pathlib import Path

from cluster.store import Writer
from cluster.store.records import Presentation
from cluster.types import StoryId

LOG = logging.getLogger(__name__)

RELOAD_GROWTH = 0.01
"""Document frequencies are reloaded once the corpus changed by this share."""

STORE_VARIABLE = "NEWSCLUSTERS_WORKER_STORE"
"""The environment variable that hands the worker its store's location."""

Request = tuple[list[StoryId], float, int]
"""(stories, hotness half-life in hours, articles in the corpus now)."""


class PresentationWorkerError(RuntimeError):
    """The worker failed or died while presenting a chunk."""


class PresentationWorker:
    """The service's handle on the worker process (started on first use)."""

    def __init__(self, store_location: str, answer_timeout_s: float = 120.0) -> None:
        self.store_location = store_location
        self.answer_timeout_s = answer_timeout_s
        """How long a chunk may take, the worker's start included."""
        self._process: subprocess.Popen[bytes] | None = None
        self._pipe: Connection | None = None

    def present(
        self, story_ids: Sequence[StoryId], half_life_hours: float, documents: int,
    ) -> list[tuple[StoryId, Presentation]]:
        """Presentations of ``story_ids`` from the store's committed state."""
        pipe = self._connection()
        try:
            pipe.send((list(story_ids), half_life_hours, documents))
            if not pipe.poll(self.answer_timeout_s):
                raise PresentationWorkerError("the presentation worker did not answer")
            status, payload = pipe.recv()
        except (EOFError, OSError, PresentationWorkerError) as error:
            self.close()
            raise PresentationWorkerError(f"the presentation worker failed: {error}") from error
        if status != "ok":
            raise PresentationWorkerError(f"the presentation worker failed: {payload}")
        result: list[tuple[StoryId, Presentation]] = payload
        return result

    def _connection(self) -> Connection:
        if self._pipe is None or self._process is None or self._process.poll() is not None:
            self.close()
            # a fresh interpreter (not fork: the service has threads, and FAISS's
            # OpenMP pool, that a forked child would inherit in an unknown state;
            # not multiprocessing's spawn: it re-imports the caller's __main__)
            ours, theirs = socket.socketpair()
            # the location in the environment, not the command line: a URL may hold a password
            process = subprocess.Popen(
                [sys.executable, "-m", "cluster.stories.worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), cwd=Path(__file__).resolve().parent.parent,
                env={**os.environ, STORE_VARIABLE: self.store_location})
            theirs.close()
            self._process, self._pipe = process, Connection(ours.detach())
        return self._pipe

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def close(self) -> None:
        """Stop the worker (it finishes nothing half-way: the service holds the claims)."""
        pipe, process = self._pipe, self._process
        self._pipe = self._process = None
        if pipe is not None:
            with suppress(OSError, ValueError):  # already gone
                pipe.send(None)
            pipe.close()
        if process is not None:
            try:
                process.wait(5.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5.0)


def leave_a_core_to_the_worker() -> None:
    """FAISS runs its batch searches on an OpenMP thread per core; with the
    worker busy on one of them, two threads fought it for one core (40,000
    synthetic articles on 2 cores: 75.7 s of ingest on two threads, 65.5 s on
    one)."""
    import faiss

    cores = os.cpu_count() or 1
    if cores > 1:
        faiss.omp_set_num_threads(min(faiss.omp_get_max_threads(), cores - 1))


Computed = tuple[list[StoryId], list[tuple[StoryId, Presentation]]]


class WorkerRounds:
    """The background presenter's ``present_some`` and ``flush`` for a worker:
    each round writes the previous round's presentations and claims the next
    chunk in one write transaction (``write``: the service's lock and store
    write), then has the worker compute the chunk outside the lock."""

    def __init__(
        self, worker: PresentationWorker, write: Callable[[], AbstractContextManager[Writer]],
        half_life_hours: float, documents: Callable[[], int],
    ) -> None:
        self.worker = worker
        self._write = write
        self._half_life_hours = half_life_hours
        self._documents = documents
        self._computed: Computed | None = None

    def present_some(self, limit: int) -> bool:
        """Write what was computed, claim up to ``limit`` more and compute them;
        True while there may be more (what was computed is written next call)."""
        computed, self._computed = self._computed, None
        try:
            with self._write() as writer:
                if computed is not None:
                    claimed, results = computed
                    for story_id, presentation in results:
                        writer.set_story_presentation(story_id, presentation, claimed=True)
                    writer.release_claims(claimed, presented=True)
                wanted = writer.claim_for_presentation(limit) if limit > 0 else []
        except BaseException:
            if computed is not None:
                self._release(computed[0])
            raise
        if not wanted:
            return False
        try:
            results = self.worker.present(wanted, self._half_life_hours, self._documents())
        except BaseException:
            self._release(wanted)
            raise
        self._computed = (wanted, results)
        return True

    def flush(self) -> None:
        """Write what the last round computed."""
        self.present_some(0)

    def _release(self, story_ids: list[StoryId]) -> None:
        """The stories are dirty again (if this fails too, the claims stay in the
        store and the next start releases them)."""
        try:
            with self._write() as writer:
                writer.release_claims(story_ids, presented=False)
        except Exception:
            LOG.exception("releasing %d claimed stories failed", len(story_ids))

    def close(self) -> None:
        self.worker.close()


def serve(pipe: Connection, store_location: str) -> None:
    """The worker's loop: answer each request until the pipe closes or a None arrives."""
    from cluster.store.opening import open_store
    from cluster.stories.presentation import compute_presentation
    from cluster.text.lexical import TermStats

    store = open_store(store_location, read_only=True)
    terms: TermStats | None = None
    while True:
        try:
            request: Request | None = pipe.recv()
        except (EOFError, OSError):
            break
        if request is None:
            break
        story_ids, half_life_hours, documents = request
        try:
            with store.read() as reader:
                if terms is None or abs(documents - terms.documents) > RELOAD_GROWTH * max(
                        documents, 1):
                    # the service's own count: it may leave duplicates out
                    terms = TermStats(documents, reader.term_frequencies())
                answer = [(s, compute_presentation(reader, s, None, terms, half_life_hours))
                          for s in story_ids]
            pipe.send(("ok", answer))
        except Exception as error:  # the service logs it and retries the chunk later
            LOG.exception("presenting stories failed")
            pipe.send(("error", repr(error)))
    store.close()


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])), os.environ[STORE_VARIABLE])
