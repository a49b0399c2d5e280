"""A reentrant lock that hands itself to the longest waiter.

``threading.RLock`` is not fair: a thread that releases it and asks again at
once (the ingest loop, batch after batch) usually gets it back before a
waiting thread wakes up. The background presenter waited behind a steady
stream that way and presented almost nothing until the stream ended: in the
million-article run, 229 s of presentation were left after the last batch.
Here a waiting thread queues, and a release passes the lock to the head of
the queue.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class FairRLock:
    """A first-come, first-served ``RLock`` (``with`` only)."""

    def __init__(self) -> None:
        self._state = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._queue: deque[int] = deque()

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._state:
            if self._owner == me:
                self._depth += 1
                return
            self._queue.append(me)
            try:
                self._state.wait_for(lambda: self._owner is None and self._queue[0] == me)
            except BaseException:
                self._queue.remove(me)
                self._state.notify_all()
                raise
            self._queue.popleft()
            self._owner, self._depth = me, 1

    @property
    def waiting(self) -> int:
        """Threads queued for the lock (the owner leaves the queue when it takes it)."""
        return len(self._queue)

    def release(self) -> None:
        with self._state:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a lock this thread does not hold")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._state.notify_all()

    def __enter__(self) -> FairRLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
