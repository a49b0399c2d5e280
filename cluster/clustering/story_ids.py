"""Keeping story ids stable when stories are recomputed (a re-cluster).

Each new story takes the id of the old story it shares most articles with,
one to one, largest overlaps first (ties by old id, then new id), so ids that
users bookmarked keep pointing at the same coverage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TypeVar

Id = TypeVar("Id", bound=int)
"""A story's or a storyline's id: both keep theirs by the same rule."""


def match_story_ids(new: Mapping[str, Id], old: Mapping[str, Id]) -> list[tuple[Id, Id]]:
    """(new id, old id) renames for the article → story maps after and before
    (or article → storyline)."""
    overlap = Counter((story, old[article]) for article, story in new.items() if article in old)
    taken_new: set[Id] = set()
    taken_old: set[Id] = set()
    renames: list[tuple[Id, Id]] = []
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


def vanished_story_targets(new: Mapping[str, Id], old: Mapping[str, Id]) -> dict[Id, Id]:
    """For each old story id that no new story kept (after the renames): the new
    story holding most of its articles (ties by lower id), so the old id can
    answer with ``merged_into``. Old stories whose articles are all gone are left out."""
    live = set(new.values())
    spread: dict[Id, Counter[Id]] = {}
    for article, old_story in old.items():
        if old_story not in live and article in new:
            spread.setdefault(old_story, Counter())[new[article]] += 1
    return {
        old_story: min(counts.items(), key=lambda item: (-item[1], item[0]))[0]
        for old_story, counts in sorted(spread.items())
    }
