#!/usr/bin/env python3
"""Back up the store while the service runs, or restore one (service stopped).

    python scripts/backup.py backup FILE           # consistent online copy
    python scripts/backup.py restore FILE [--force]  # then start the service: the
                                                      # index is rebuilt from the store
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts._common import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("backup", help="copy the store to FILE")
    make.add_argument("file", type=Path)
    back = sub.add_parser("restore", help="replace the store with FILE")
    back.add_argument("file", type=Path)
    back.add_argument("--force", action="store_true", help="replace an existing store")
    args = parser.parse_args()

    from tqdm import tqdm

    from cluster.settings import load_settings
    from cluster.store.backup import backup_store, restore_store

    settings = load_settings()
    if args.command == "backup":
        with tqdm(unit="page", desc="backup") as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            articles = backup_store(settings.store_path, args.file, progress)
        print(f"backed up {articles} articles to {args.file}")
    else:
        restore_store(args.file, settings.store_path, settings.index_dir, args.force)
        print(f"restored {settings.store_path} from {args.file}; the index is rebuilt at the "
              "next start")


if __name__ == "__main__":
    run(main)
