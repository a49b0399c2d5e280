"""Opening a kept benchmark store: the schema migrations an older store needs,
then the service's start-up (index snapshot, catch-up, clusterer restore),
each timed (sixth 1 Dec 2026 session).

    .venv/bin/python docs/measurements/start_kept_store.py /tmp/w/b1m/1000000 [--cold]

The folder is what ``scripts/bench.py --scale N --keep DIR`` leaves in
DIR/N. ``--cold`` first evicts the store's and the index's files from the page
cache (``posix_fadvise(POSIX_FADV_DONTNEED)``), so the start reads from disk
as after a reboot; without it, whatever the page cache holds is used. Run it
with ``PYTHONPATH`` at an older checkout to time that version's start-up on
the same store (a store opened by a newer version is migrated and cannot be
opened by the older one again: copy the folder first).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path


def evict(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        if path.is_file():
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(descriptor)
            total += path.stat().st_size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("faiss").setLevel(logging.WARNING)
    if args.cold:
        print(f"evicted {evict(args.folder) / 1e9:.2f} GB from the page cache")
    from cluster.scale_bench import NamedEmbedder
    from cluster.service import StoryService
    from cluster.settings import load_settings
    from cluster.store import SQLiteStore

    started = time.perf_counter()
    store = SQLiteStore(args.folder / "var" / "store.sqlite3")
    version = store.schema_version
    store.close()
    opened = time.perf_counter()
    print(f"store open at schema {version}: {opened - started:.2f} s (migrations included)")
    settings = load_settings({"data_dir": args.folder / "var",
                              "index_dir": args.folder / "indexes",
                              "embedder": "hashing", "presentation_delay_s": 0})
    service = StoryService(settings, NamedEmbedder("synthetic-structure", 384))
    print(f"start-up: {time.perf_counter() - opened:.2f} s")
    service.close()


if __name__ == "__main__":
    main()
