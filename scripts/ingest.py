#!/usr/bin/env python3
"""Import articles from JSONL files: the same as `newsclusters ingest`, whose
`--help` explains every option and the settings it reads.

    python scripts/ingest.py [OPTIONS]  ==  newsclusters ingest [OPTIONS]
"""

import sys

from cluster.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["ingest", *sys.argv[1:]]))
