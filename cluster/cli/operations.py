"""``newsclusters rebuild``, ``backup`` and ``restore``: an operator's upkeep."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from cluster.cli.common import Commands, add_command, bar_progress, progress_bar, readable_file

if TYPE_CHECKING:
    from cluster.settings import Settings


def register(commands: Commands) -> None:
    parser = add_command(
        commands, "rebuild", rebuild_index, "rebuild the vector index from the store",
        """
        Rebuild the vector index from the store, the source of truth, beside
        the current snapshot, then make it current with one atomic rename: a
        crash midway leaves the old snapshot current. Run it while the server
        is stopped; the server loads the new snapshot when it starts.
        """, ("data_dir", "index_dir", "embedder", "model", "index_backend", "ivf_threshold",
              "index_nprobe"))
    parser.add_argument("--reembed", action="store_true",
                         help="Re-embed every article with the configured model first (after "
                              "a change of model); the store switches models in one "
                              "transaction, so an interrupted run leaves it as it was.")
    parser.add_argument("--recluster", action="store_true",
                         help="Replay every article in time order through a fresh clusterer. "
                              "Each new story keeps the id of the old story it shares most "
                              "articles with; old ids that no story took answer as merged "
                              "into the story that holds most of their articles.")
    parser = add_command(
        commands, "backup", backup_store_file, "copy the store while the service runs",
        """
        Write a consistent copy of the store to FILE while the service keeps
        running (SQLite's online backup, page by page). The index needs no
        backup: it is rebuilt from the store.
        """, ("data_dir",))
    parser.add_argument("file", type=Path, metavar="FILE", help="Where to write the copy.")
    parser = add_command(
        commands, "restore", restore_store_file,
        "replace the store with a backup (service stopped)",
        """
        Replace the store with a backup made by `newsclusters backup`, after
        checking it, and remove the index snapshots so that the next start
        rebuilds the index from the restored store. Stop the service first.
        """, ("data_dir", "index_dir"))
    parser.add_argument("file", type=readable_file, metavar="FILE", help="The backup to restore.")
    parser.add_argument("--force", action="store_true",
                         help="Replace an existing store (without it, a store that exists "
                              "is left alone).")


def rebuild_index(args: argparse.Namespace) -> int:
    from cluster.service import StoryService
    from cluster.settings import load_settings

    settings = load_settings()
    service = (StoryService.for_rebuild(settings) if args.reembed
               else StoryService(settings))
    with service, progress_bar("rebuild") as bar:
        result = service.rebuild(reembed=args.reembed, recluster=args.recluster,
                                 progress=bar_progress(bar))
    print(f"rebuilt index: {result['articles']} articles, store sequence {result['store_seq']}, "
          f"{result['seconds']} s")
    if "storylines_kept" in result:
        print(f"storylines: {result['storylines_kept']} of {result['storylines_before']} kept "
              "their ids")
    return 0


def _refuse_postgres(settings: Settings, instead: str) -> None:
    from cluster.errors import ConfigurationError
    from cluster.store.opening import is_postgres

    if is_postgres(settings.store_location):
        raise ConfigurationError(
            "backup and restore copy the SQLite store file; this store is in PostgreSQL: "
            f"use PostgreSQL's own tools ({instead}; docs/SCALE_OUT.md)")


def backup_store_file(args: argparse.Namespace) -> int:
    from cluster.settings import load_settings
    from cluster.store.backup import backup_store

    settings = load_settings()
    _refuse_postgres(settings, "pg_dump --format=custom")
    with progress_bar("backup", "page") as bar:
        articles = backup_store(settings.store_path, args.file, bar_progress(bar))
    print(f"backed up {articles} articles to {args.file}")
    return 0


def restore_store_file(args: argparse.Namespace) -> int:
    from cluster.settings import load_settings
    from cluster.store.backup import restore_store

    settings = load_settings()
    _refuse_postgres(settings, "pg_restore, then `newsclusters rebuild`")
    restore_store(args.file, settings.store_path, settings.index_dir, args.force)
    print(f"restored {settings.store_path} from {args.file}; the index is rebuilt at the "
          "next start")
    return 0
