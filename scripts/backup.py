#!/usr/bin/env python3
"""Back up the store while the service runs, or restore one (service stopped):
the same as `newsclusters backup` and `newsclusters restore`.

    python scripts/backup.py backup FILE             ==  newsclusters backup FILE
    python scripts/backup.py restore FILE [--force]  ==  newsclusters restore FILE [--force]
"""

import sys

from cluster.cli import main

if __name__ == "__main__":
    if sys.argv[1:2] not in (["backup"], ["restore"]):
        raise SystemExit("usage: scripts/backup.py backup|restore FILE [--force]")
    raise SystemExit(main(sys.argv[1:]))
