#!/usr/bin/env python3
"""Rebuild the vector index from the store: the same as `newsclusters rebuild`, whose
`--help` explains every option and the settings it reads.

    python scripts/rebuild_index.py [OPTIONS]  ==  newsclusters rebuild [OPTIONS]
"""

import sys

from cluster.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["rebuild", *sys.argv[1:]]))
