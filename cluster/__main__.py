"""``python -m cluster``: the ``newsclusters`` command."""

from cluster.cli import entry_point

entry_point()
