"""What the online clusterer is given and what it answers: the stored
neighbours of an incoming article, its decision, and the reader that brings
a quiet story's state back from the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cluster.clustering.centroid import StoryState
from cluster.text.lexical import Profile
from cluster.types import StoryId


class StoryLoader(Protocol):
    """Reads a story's state back from the store (see ``OnlineClusterer``)."""

    def state(self, story_id: StoryId) -> StoryState | None:
        """Count, sum and time span; the profile is left to ``profile``."""

    def profile(self, story_id: StoryId) -> Profile:
        """The lexical profile of the story's current members."""


@dataclass(frozen=True)
class Neighbour:
    """A stored article near the incoming one."""

    similarity: float
    story_id: StoryId
    timestamp: float | None


@dataclass(frozen=True)
class Decision:
    """Where an article goes: an existing story (``story_id``) or a new one (None)."""

    story_id: StoryId | None
    score: float
    candidates: int
    read_back: tuple[tuple[StoryId, StoryState], ...] = ()
    """Quiet stories read from the store for a wake-up check; the write path
    keeps them in memory (``keep_read_back``), the read path drops them."""
    evidence_hours: float | None = None
    """The gap from the article to the candidate it matches best on content
    alone, when that match is strong: evidence of how spread in time the
    stream's coverage is (``OnlineClusterer.observe``)."""

    @property
    def new_story(self) -> bool:
        return self.story_id is None
