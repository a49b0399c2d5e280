#!/usr/bin/env python3
"""Poll RSS/Atom/RDF feeds into the store: the same as `newsclusters feeds`, whose
`--help` explains every option and the settings it reads.

    python scripts/ingest_feeds.py [OPTIONS]  ==  newsclusters feeds [OPTIONS]
"""

import sys

from cluster.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["feeds", *sys.argv[1:]]))
