"""Which storyline a story belongs to: the storyline of the story most like
it, when that is close enough.

A story is compared with other stories by the cosine of their centroids
(the mean of their articles' vectors). Measured on the annotated AllSides
development storylines (docs/QUALITY.md, "Storylines"), neither the stories'
word profiles, their named people, places and organisations, the overlap of
their labels, a decay over the days between them, nor centring the
centroids on the corpus mean beat the centroid cosine alone by more than
noise; what helps is a long window, since one development runs for months.

The rule is single-pass: a story joins the storyline of its best match
once it is placed, as Story Forest (Liu et al. 2017) grows its story trees,
provided it is close enough to that storyline's stories on average (which
stops one similar pair from chaining two developments together). What
readers already saw is not rearranged: a story stays in its storyline
unless a later look, as it grows, places it in another one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from cluster.types import StoryId, Vector

SECONDS_PER_DAY = 86_400.0
EARLY_CHECKS = 4
"""A story is linked again at each of its first sizes up to this, then at
each power of two: its centroid moves most while it is small."""


@dataclass(frozen=True)
class StoryPoint:
    """What linking needs of a story: its centroid's direction and its span."""

    id: StoryId
    direction: Vector
    """The unit vector of its centroid."""
    first: float | None
    last: float | None


def gap_seconds(a: StoryPoint, b: StoryPoint) -> float:
    """Time between two stories' spans (0 when they overlap or one is undated)."""
    if a.first is None or b.first is None:
        return 0.0
    a_last = a.last if a.last is not None else a.first
    b_last = b.last if b.last is not None else b.first
    return max(0.0, a.first - b_last, b.first - a_last)


def started_before(a: StoryPoint, b: StoryPoint) -> bool:
    """Whether story ``a`` started before ``b`` (first article, then id; an
    undated story by id alone)."""
    if a.first is None or b.first is None or a.first == b.first:
        return a.id < b.id
    return a.first < b.first


def best_link(story: StoryPoint, candidates: Iterable[StoryPoint], threshold: float,
              window_days: float) -> tuple[StoryId, float] | None:
    """The story that started before ``story``, within the window, most
    similar to it, if its cosine reaches ``threshold`` (ties to the lower id),
    with that cosine. Only earlier stories: a story arriving later links to
    this one in its turn, so the outcome is the same whatever order a
    batch's stories are looked at in."""
    window = window_days * SECONDS_PER_DAY
    best: tuple[float, int] | None = None
    for other in candidates:
        if not started_before(other, story) or gap_seconds(story, other) > window:
            continue
        score = float(np.dot(story.direction, other.direction))
        if score >= threshold and (best is None or (score, -other.id) > (best[0], -best[1])):
            best = (score, other.id)
    return None if best is None else (StoryId(best[1]), best[0])


def admits(story: StoryPoint, members: Iterable[StoryPoint], threshold: float,
           window_days: float) -> bool:
    """Whether ``story`` may join a storyline of these stories: its mean cosine
    to those of them within the window reaches ``threshold``. The best match
    alone would let a storyline chain from one development into the next
    through a single similar pair (single linkage); the mean holds each
    newcomer to the storyline as a whole."""
    window = window_days * SECONDS_PER_DAY
    scores = [float(np.dot(story.direction, m.direction)) for m in members
              if m.id != story.id and gap_seconds(story, m) <= window]
    return not scores or sum(scores) / len(scores) >= threshold


def relink_due(before: int, after: int) -> bool:
    """Whether a story that grew from ``before`` to ``after`` articles passed a
    size at which it is linked again."""
    if after <= before or after < 1:
        return False
    if before < EARLY_CHECKS:
        return True
    return after.bit_length() > before.bit_length()


def link_in_order(stories: Sequence[StoryPoint], threshold: float,
                  window_days: float) -> dict[StoryId, int]:
    """The rule applied once to finished stories in the order given (their
    first articles' order): each joins the group of its best earlier match
    if it is admitted there. Returns a group number per story (its own
    position when alone): the storylines that complete stories would get,
    as the evaluation scores them."""
    group: dict[StoryId, int] = {}
    members: dict[int, list[StoryPoint]] = {}
    for position, story in enumerate(stories):
        found = best_link(story, stories[:position], threshold, window_days)
        if found is not None and admits(story, members[group[found[0]]], threshold,
                                        window_days):
            group[story.id] = group[found[0]]
        else:
            group[story.id] = position
        members.setdefault(group[story.id], []).append(story)
    return group
