#!/usr/bin/env python3
"""Score the clustering on labelled files: the same as `newsclusters evaluate`, whose
`--help` explains every option and the settings it reads.

    python scripts/evaluate.py [OPTIONS]  ==  newsclusters evaluate [OPTIONS]
"""

import sys

from cluster.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["evaluate", *sys.argv[1:]]))
