"""The coordinator's rule for joining stories that routing split between
partitions, on hand-made stories."""

from __future__ import annotations

import numpy as np

from cluster.scaleout.reconciling import LiveStories
from cluster.types import StoryId

DAY = 86_400.0


def direction(*weights: float) -> np.ndarray:
    vector = np.zeros(4)
    vector[:len(weights)] = weights
    return vector


def test_a_split_story_joins_its_best_match_across_partitions_into_the_larger() -> None:
    stories = LiveStories(4)
    stories.put(StoryId(1), 0, 5, direction(1, 0.1), 0.0, DAY)
    stories.put(StoryId(2), 1, 2, direction(1, 0.15), DAY / 2, DAY)  # its other half
    stories.put(StoryId(3), 1, 9, direction(0, 1), 0.0, DAY)  # another event
    stories.put(StoryId(4), 0, 3, direction(1, -0.3), 0.0, DAY)  # 1's partition, less alike
    assert stories.matches([StoryId(2)]) == [(StoryId(1), StoryId(2))]
    assert stories.matches([StoryId(3)]) == []  # nothing close enough


def test_the_rule_needs_the_cosine_time_and_a_mutual_or_larger_match() -> None:
    stories = LiveStories(4)
    stories.put(StoryId(1), 0, 3, direction(1, 1), 0.0, DAY)
    stories.put(StoryId(2), 1, 3, direction(1, -0.2), 0.0, DAY)  # cosine 0.59
    assert stories.matches([StoryId(1)]) == []
    stories.put(StoryId(2), 1, 3, direction(1, 0.9), 5 * DAY, 6 * DAY)  # four days apart
    assert stories.matches([StoryId(1)]) == []
    stories.put(StoryId(2), 1, 3, direction(1, 0.9), None, None)  # undated: time says nothing
    assert stories.matches([StoryId(1)]) == [(StoryId(1), StoryId(2))]
    # not each other's best: 6 joins 1, which is larger; 7, larger than 1, does not
    stories.put(StoryId(6), 1, 1, direction(1, 0.8), 0.0, DAY)
    stories.put(StoryId(7), 1, 5, direction(1, 0.8), 0.0, DAY)
    assert stories.matches([StoryId(6)]) == [(StoryId(1), StoryId(6))]
    assert stories.matches([StoryId(7)]) == []
    # several changed at once: best pairs first, each story in one pair at most
    assert stories.matches([StoryId(6), StoryId(1)]) == [(StoryId(1), StoryId(2))]

def test_removing_a_story_keeps_the_others_rows() -> None:
    stories = LiveStories(4)
    for story in range(1, 6):
        stories.put(StoryId(story), story % 2, story, direction(story, 1), 0.0, DAY)
    stories.remove(StoryId(2))
    stories.remove(StoryId(99))  # not held: nothing
    assert len(stories) == 4 and StoryId(2) not in stories
    assert [stories.partition(StoryId(s)) for s in (1, 3, 4, 5)] == [1, 1, 0, 1]
    assert all(len(stories.matches([StoryId(s)])) <= 1 for s in (1, 3, 4, 5))
