"""Keeping story ids stable when stories are recomputed (a re-cluster).

Each new story takes the id of the old story it shares most articles with,
one to one, largest overlaps first (ties by old id, then new id), so ids that
users bookmarked keep pointing at the same coverage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from cluster.types import StoryId


def match_story_ids(
    new: Mapping[str, StoryId], old: Mapping[str, StoryId]
) -> list[tuple[StoryId, StoryId]]:
    """(new id, old id) renames for the article → story maps after and before."""
    overlap = Counter((story, old[article]) for article, story in new.items() if article in old)
    taken_new: set[StoryId] = set()
    taken_old: set[StoryId] = set()
    renames: list[tuple[StoryId, StoryId]] = []
    for (new_story, old_story), _ in sorted(
        overlap.items(), key=lambda item: (-item[1], item[0][1], item[0][0])
    ):
        if new_story in taken_new or old_story in taken_old:
            continue
        taken_new.add(new_story)
        taken_old.add(old_story)
        if new_story != old_story:
            renames.append((new_story, old_story))
    return renames


def vanished_story_targets(
    new: Mapping[str, StoryId], old: Mapping[str, StoryId]
) -> dict[StoryId, StoryId]:
    """For each old story id that no new story kept (after the renames): the new
    story holding most of its articles (ties by lower id), so the old id can
    answer with ``merged_into``. Old stories whose articles are all gone are left out."""
    live = set(new.values())
    spread: dict[StoryId, Counter[StoryId]] = {}
    for article, old_story in old.items():
        if old_story not in live and article in new:
            spread.setdefault(old_story, Counter())[new[article]] += 1
    return {
        old_story: min(counts.items(), key=lambda item: (-item[1], item[0]))[0]
        for old_story, counts in sorted(spread.items())
    }
