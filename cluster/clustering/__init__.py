"""The online clusterer: story centroids as (count, sum), the join score,
merges, splits of two-event stories, and stable ids across re-clusters."""

from cluster.clustering.decisions import Decision, Neighbour, StoryLoader
from cluster.clustering.online import OnlineClusterer

__all__ = ["Decision", "Neighbour", "OnlineClusterer", "StoryLoader"]
