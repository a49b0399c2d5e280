"""The ``newsclusters`` command: one entry point for serving, ingesting,
polling feeds, rebuilding, evaluating and backing up.

    newsclusters run | serve | ingest | feeds | rebuild | evaluate | tune | backup | restore
    newsclusters scale-out

Each command is a thin layer of argument parsing and progress display over
the library. Errors the library raises on purpose (bad input, bad settings,
a store from another model) end the command with one line and exit status
2; Ctrl-C ends it with one line and status 130, after the library has rolled
back the write in progress.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cluster.cli import evaluating, importing, operations, scaling, serving
from cluster.cli.common import quiet_libraries

COMMANDS = (serving, importing, operations, evaluating, scaling)

DESCRIPTION = """\
Multi-source news story clustering: articles are embedded, stored, indexed
and assigned online to stories; a JSON API and web pages serve related
coverage and the stories.

Every command reads its settings from NEWSCLUSTERS_* environment variables
(and the TOML file named by NEWSCLUSTERS_CONFIG); each command's --help
lists the ones it uses."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsclusters", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status (0 on success)."""
    from cluster.errors import ClusterError

    args = build_parser().parse_args(argv)
    quiet_libraries()
    try:
        status: int | None = args.handler(args)
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: what was written before is stored and the step in progress "
              "rolled back (a rebuild leaves the store and the current snapshot as they "
              "were); run the command again to go on", file=sys.stderr)
        return 130
    return status or 0


def entry_point() -> None:
    """The console script ``newsclusters``."""
    raise SystemExit(main())


__all__ = ["build_parser", "entry_point", "main"]
