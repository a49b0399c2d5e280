"""Reading a story's clustering state back from the store: the clusterer keeps
only the stories of the join window in full, and loads lexical profiles
lazily (after a restart, a story's profile is rebuilt when it is first
scored, not for every live story before the service can answer)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cluster.clustering.centroid import StoryState
from cluster.store import Store
from cluster.text.lexical import Profile, Weights
from cluster.types import StoryId


class StoreStoryLoader:
    """``StoryLoader`` over the store. Reads see committed data, which is what
    the clusterer needs: it loads a story before changing it in a batch."""

    def __init__(self, store: Store, weights: Callable[[str, str], Weights]) -> None:
        self._store = store
        self._weights = weights

    def state(self, story_id: StoryId) -> StoryState | None:
        with self._store.read() as reader:
            row = reader.story(story_id)
        if row is None or row.article_count <= 0 or row.status not in ("active", "dormant"):
            return None
        return StoryState(row.article_count, np.asarray(row.centroid_sum, dtype=np.float64),
                          row.first_seen, row.last_updated, None)

    def profile(self, story_id: StoryId) -> Profile:
        profile = Profile()
        with self._store.read() as reader:
            members = reader.story_articles(story_id)
        for member in members:
            profile.add(self._weights(member.title, member.text))
        return profile
