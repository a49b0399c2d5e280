"""The online clusterer: story centroids as (count, sum), the join score,
merges, splits of two-event stories, and stable ids across re-clusters."""

from cluster.clustering.online import Decision, Neighbour, OnlineClusterer, StoryLoader

__all__ = ["Decision", "Neighbour", "OnlineClusterer", "StoryLoader"]
