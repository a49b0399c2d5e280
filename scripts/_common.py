"""Shared start-up for the development tools under scripts/ (run from the
repository root as ``python -m scripts.NAME``): quiet libraries, clean exits."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run(main: Callable[[], T]) -> T:
    """Run a tool's body: library errors become one line and exit status 2;
    Ctrl-C exits 130 after the library has rolled back the open batch."""
    from cluster.cli.common import quiet_libraries
    from cluster.errors import ClusterError

    quiet_libraries()
    try:
        return main()
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("\ninterrupted: finished batches are stored; re-run to resume", file=sys.stderr)
        raise SystemExit(130) from None
