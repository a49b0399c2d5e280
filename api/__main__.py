"""``python -m api``: serve locally, as ``newsclusters run`` does."""

import sys

from cluster.cli import main

raise SystemExit(main(["run", *sys.argv[1:]]))
