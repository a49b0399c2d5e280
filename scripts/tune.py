#!/usr/bin/env python3
"""Search clusterer settings over labelled files: the same as `newsclusters tune`, whose
`--help` explains every option and the settings it reads.

    python scripts/tune.py [OPTIONS]  ==  newsclusters tune [OPTIONS]
"""

import sys

from cluster.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["tune", *sys.argv[1:]]))
