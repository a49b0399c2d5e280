"""How a story presents itself: its representative article and label,
refreshed once per batch for the stories the batch changed."""

from __future__ import annotations

import numpy as np

from cluster.store import Writer
from cluster.types import StoryId, Vector

CANDIDATES = 64
"""Newest members that compete with the previous representative."""


def refresh_presentation(writer: Writer, story_id: StoryId, direction: Vector | None) -> None:
    """Representative = the member closest to the centroid ``direction``;
    label = its title (until stories get key-term labels).

    Bounded work per changed story: the previous representative competes with
    the newest members only, so a large story costs no more than a small one."""
    keys = writer.member_keys(story_id)
    if not keys:
        writer.set_story_presentation(story_id, "", None)
        return
    row = writer.story(story_id)
    previous = row.representative if row is not None else None
    candidates = keys[-CANDIDATES:]
    if previous is not None and previous in set(keys) and previous not in candidates:
        candidates = [previous, *candidates]
    vectors = writer.vectors(candidates)
    if direction is None:
        total = row.centroid_sum if row is not None else vectors.sum(axis=0)
        direction = np.asarray(total, dtype=np.float32)
    best = candidates[int(np.argmax(vectors @ direction))]
    chosen = writer.articles_by_keys([best])[best]
    writer.set_story_presentation(story_id, chosen.title, chosen.key)
