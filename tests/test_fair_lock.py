"""The service's lock hands itself to a waiting thread (the presenter) instead
of going straight back to the thread that released it (the ingest loop)."""

from __future__ import annotations

import threading
import time

import pytest

from cluster.service.fair_lock import FairRLock


def _queued(lock: FairRLock, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(lock._queue) < count:
        assert time.monotonic() < deadline, "the waiter never queued"
        time.sleep(0.001)


def test_a_waiting_thread_gets_the_lock_before_its_releaser_takes_it_again() -> None:
    lock = FairRLock()
    order: list[str] = []

    def waiter() -> None:
        with lock:
            order.append("waiter")

    lock.acquire()
    thread = threading.Thread(target=waiter)
    thread.start()
    _queued(lock, 1)
    lock.release()
    with lock:  # as the ingest loop's next batch
        order.append("releaser")
    thread.join(10)
    assert order == ["waiter", "releaser"]


def test_it_is_reentrant_and_only_its_holder_releases_it() -> None:
    lock = FairRLock()
    with lock, lock:
        pass
    with pytest.raises(RuntimeError):
        lock.release()
    taken = threading.Event()
    held = threading.Event()

    def holder() -> None:
        with lock:
            taken.set()
            held.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    assert taken.wait(10)
    with pytest.raises(RuntimeError):
        lock.release()  # not ours
    held.set()
    thread.join(10)
    with lock:
        pass
