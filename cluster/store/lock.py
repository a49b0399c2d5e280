"""One writer per store, enforced by the operating system.

Every process that writes a store (the server, and the commands that
ingest, poll feeds, rebuild or restore) holds an exclusive ``flock`` on
``<store>.lock`` for as long as it has the store open. A second writer is
refused at once with a message naming the holder. The kernel releases the
lock when its process ends, however it ends, so a crash leaves no stale lock
behind; the file itself stays, holding the last holder's description.
Reading the store (a backup, the presentation worker) takes no lock.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path

from cluster.errors import ConfigurationError


class StoreInUse(ConfigurationError):
    """Another process has the store open for writing."""


def lock_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".lock")


def _describe_self() -> str:
    command = " ".join(os.path.basename(part) if i == 0 else part
                       for i, part in enumerate(sys.argv[:4]))
    return f"pid {os.getpid()} ({command or 'python'}), since {time.strftime('%Y-%m-%d %H:%M:%S')}"


class StoreLock:
    """The exclusive writer's lock of one store file, held until ``release``."""

    def __init__(self, store_path: Path) -> None:
        self.path = lock_path(store_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder(handle)
            os.close(handle)
            raise StoreInUse(
                f"the store {store_path} is in use by another process ({holder}): one "
                "process writes a store at a time. Stop that process first (or send "
                "articles to the running server's API instead of running this command)"
            ) from None
        except BaseException:
            os.close(handle)
            raise
        os.ftruncate(handle, 0)
        os.pwrite(handle, _describe_self().encode(), 0)
        self._handle: int | None = handle

    @staticmethod
    def _holder(handle: int) -> str:
        try:
            text = os.pread(handle, 500, 0).decode("utf-8", "replace").strip()
        except OSError:
            text = ""
        return text or "holder unknown"

    def release(self) -> None:
        if self._handle is not None:
            os.close(self._handle)  # closing the descriptor drops the flock
            self._handle = None
