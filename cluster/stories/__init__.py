"""How a story presents itself to readers: headline, key-term label,
attributed summary, sources, hotness; refreshed off the ingest path by a
thread or a worker process."""

from cluster.stories.presentation import compute_presentation, refresh_presentation

__all__ = ["compute_presentation", "refresh_presentation"]
