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
    pool = list(candidates)
    return best_links([story], pool, [list(range(len(pool)))], threshold, window_days)[0]


def best_links(stories: Sequence[StoryPoint], pool: Sequence[StoryPoint],
               nearby: Sequence[Sequence[int]], threshold: float,
               window_days: float) -> list[tuple[StoryId, float] | None]:
    """``best_link`` for each of ``stories`` among its candidates
    (``nearby[n]``: positions in ``pool``), all in one array computation."""
    width = max((len(near) for near in nearby), default=0)
    if not stories or not pool or width == 0:
        return [None] * len(stories)
    positions = np.full((len(stories), width), -1, dtype=np.int64)
    for row, near in enumerate(nearby):
        positions[row, :len(near)] = near
    present = positions >= 0
    taken = np.where(present, positions, 0)
    directions = np.stack([p.direction for p in pool]).astype(np.float32)
    queries = np.stack([s.direction for s in stories]).astype(np.float32)
    scores = np.einsum("nd,nkd->nk", queries, directions[taken])
    ids, first, last, undated = _columns(pool)
    own_ids, own_first, own_last, own_undated = _columns(stories)
    cand_first, cand_last, cand_ids = first[taken], last[taken], ids[taken]
    either_undated = undated[taken] | own_undated[:, None]
    # started_before(candidate, story): by time, or by id when undated or simultaneous
    by_id = either_undated | (cand_first == own_first[:, None])
    earlier = np.where(by_id, cand_ids < own_ids[:, None], cand_first < own_first[:, None])
    gap = np.where(either_undated, 0.0, np.maximum(
        0.0, np.maximum(own_first[:, None] - cand_last, cand_first - own_last[:, None])))
    eligible = (present & earlier & (gap <= window_days * SECONDS_PER_DAY)
                & (scores >= threshold))
    # the best score of each row, ties to the lowest id
    masked = np.where(eligible, scores, -np.inf)
    top = masked.max(axis=1)
    tied = eligible & (masked == top[:, None])
    chosen = np.where(tied, cand_ids, np.iinfo(np.int64).max).min(axis=1)
    return [None if not np.isfinite(top[row]) else (StoryId(int(chosen[row])), float(top[row]))
            for row in range(len(stories))]


def _columns(points: Sequence[StoryPoint]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                     np.ndarray]:
    """(ids, first times, last times, undated) of stories as arrays."""
    ids = np.array([p.id for p in points], dtype=np.int64)
    first = np.array([p.first or 0.0 for p in points], dtype=np.float64)
    last = np.array([p.last if p.last is not None else (p.first or 0.0) for p in points],
                    dtype=np.float64)
    undated = np.array([p.first is None for p in points], dtype=bool)
    return ids, first, last, undated


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
