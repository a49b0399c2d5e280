"""``python -m cluster.cli``: the ``newsclusters`` command."""

from cluster.cli import entry_point

entry_point()
