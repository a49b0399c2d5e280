"""One writer per store: a second writing process, or an admin command beside
a running server, is refused with a message naming the holder; the lock dies
with its process (kill -9 leaves nothing stale)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster.store import SQLiteStore
from cluster.store.lock import StoreInUse
from tests.conftest import DEMO, ROOT

HOLDER = """
import sys, time
from pathlib import Path
from cluster.store import SQLiteStore
store = SQLiteStore(Path(sys.argv[1]))
print("holding", flush=True)
time.sleep(600)
"""


def env_for(tmp: Path) -> dict[str, str]:
    return {**os.environ, "NEWSCLUSTERS_DATA_DIR": str(tmp / "var"),
            "NEWSCLUSTERS_INDEX_DIR": str(tmp / "indexes"), "NEWSCLUSTERS_EMBEDDER": "hashing",
            "NEWSCLUSTERS_ALLOW_ANONYMOUS_WRITES": "true"}


def command(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).with_name("newsclusters")), *args],
                          cwd=tmp, env=env_for(tmp), capture_output=True, text=True,
                          timeout=300, check=False)


def test_a_second_writer_in_the_same_process_is_refused(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "s.sqlite3")
    with pytest.raises(StoreInUse, match=rf"pid {os.getpid()}"):
        SQLiteStore(tmp_path / "s.sqlite3")
    first.close()
    SQLiteStore(tmp_path / "s.sqlite3").close()  # released on close


def test_commands_are_refused_while_another_process_writes_and_run_after_it_dies(
    tmp_path: Path,
) -> None:
    backup = tmp_path / "backup.sqlite3"
    assert command(tmp_path, "ingest", str(DEMO)).returncode == 0
    assert command(tmp_path, "backup", str(backup)).returncode == 0
    store = tmp_path / "var" / "store.sqlite3"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        for args in (["rebuild", "--recluster"], ["ingest", str(DEMO)],
                     ["restore", str(backup), "--force"], ["serve"]):
            refused = command(tmp_path, *args)
            assert refused.returncode == 2, (args, refused.stderr)
            assert f"in use by another process (pid {holder.pid}" in refused.stderr, args
            assert "Traceback" not in refused.stderr
        # a backup only reads: it goes on beside the writer
        assert command(tmp_path, "backup", str(tmp_path / "again.sqlite3")).returncode == 0
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(30)
        if holder.stdout is not None:
            holder.stdout.close()
    time.sleep(0.1)
    rebuilt = command(tmp_path, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr  # no stale lock after kill -9
