#!/usr/bin/env python3
"""Serve locally with the demo corpus: the same as `newsclusters run`, whose
`--help` explains every option and the settings it reads.

    python scripts/serve.py [OPTIONS]  ==  newsclusters run [OPTIONS]
"""

import sys

from cluster.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["run", *sys.argv[1:]]))
