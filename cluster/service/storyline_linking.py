"""Storylines kept current inside each write: the stories that a batch
created, grew past a check size, merged, split or left active are linked
to the storyline of their best match (``cluster/storylines/linking.py``).

Candidates come from the article index, not a second index of stories: the
stories of the stored articles nearest to a story's centroid. One index
search serves the batch's stories; a candidate's centroid is the
clusterer's when it holds the story, else its stored row's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from cluster.service.runtime import ServiceRuntime
from cluster.store import Writer
from cluster.storylines.linking import StoryPoint, admits, best_links
from cluster.types import StoryId, StorylineId

SEARCH_BLOCK = 4096
"""Stories searched for at once (bounds the query matrix)."""


class StorylineLinking:
    """Links stories to storylines, and keeps storylines right when stories merge."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self._rt = runtime

    @property
    def enabled(self) -> bool:
        return self._rt.settings.cluster.storyline_threshold <= 1.0

    def link(self, writer: Writer, story_ids: Iterable[StoryId], now: float | None,
             near: Mapping[StoryId, Mapping[StoryId, float]] | None = None) -> None:
        """Link each of these stories, in the order they started. ``near``:
        candidate stories already found for some of them, each with its best
        similarity (the ``storyline_neighbours`` most similar are kept); for
        the others, the stories of the articles nearest to the story's
        centroid."""
        if not self.enabled or len(self._rt.index) == 0:
            return
        cap = self._rt.settings.cluster.storyline_neighbours
        # a story's own articles are not its candidates; one whose new
        # articles saw only each other (a big story) is searched for instead
        given = {story: set(others if len(others) <= cap else
                            sorted(others, key=lambda s: (-found[s], s))[:cap])
                 for story, found in (near or {}).items()
                 if (others := [s for s in found if s != story])}
        points = _Points(self._rt, writer)
        stories = sorted((p for p in points.many(set(story_ids)) if p is not None),
                         key=lambda p: (p.first is None, p.first or 0.0, p.id))
        if not stories:
            return
        params = self._rt.settings.cluster
        searched = [p for p in stories if p.id not in given]
        found_near: dict[StoryId, set[StoryId]] = {}
        k = min(params.storyline_neighbours, len(self._rt.index))
        # in blocks: a re-cluster links every story of the store in one write
        for start in range(0, len(searched), SEARCH_BLOCK):
            block = searched[start:start + SEARCH_BLOCK]
            _, found = self._rt.index.search(np.stack([p.direction for p in block]), k)
            # neighbours repeat across a write's stories: look each one up once
            placed = writer.placement(int(key) for key in np.unique(found) if key >= 0)
            for story, row in zip(block, found, strict=True):
                found_near[story.id] = {placed[int(key)][0] for key in row
                                        if key >= 0 and int(key) in placed}
        nearby = [given.get(p.id) or found_near.get(p.id, set()) for p in stories]
        pool = [p for p in points.many({s for near in nearby for s in near}) if p is not None]
        position = {p.id: n for n, p in enumerate(pool)}
        matches = best_links(stories, pool, [[position[s] for s in near if s in position]
                                             for near in nearby],
                             params.storyline_threshold, params.storyline_window_days)
        for story, match in zip(stories, matches, strict=True):
            if match is None:
                continue
            own, theirs = writer.story_storylines_of((story.id, match[0])).values()
            if theirs is not None and theirs != own and not admits(
                    story, [p for p in points.many(
                        s.id for s in writer.storyline_stories(theirs)) if p is not None],
                    params.storyline_threshold, params.storyline_window_days):
                continue
            self._join(writer, story.id, own, match[0], theirs, now)

    def story_merged(self, writer: Writer, keep: StoryId, absorb: StoryId) -> None:
        """``absorb`` was folded into ``keep``: ``keep`` takes its storyline if it
        had none, and a storyline left with no story answers with ``keep``'s."""
        if self.enabled:
            storylines_after_merge(writer, keep, absorb)

    def _join(self, writer: Writer, story: StoryId, own: StorylineId | None, match: StoryId,
              theirs: StorylineId | None, now: float | None) -> None:
        if own is not None and own == theirs:
            return
        if theirs is None:
            if own is None:
                own = writer.create_storyline(now)
                writer.set_storyline(story, own)
            writer.set_storyline(match, own)
            return
        writer.set_storyline(story, theirs)
        if own is not None:
            self._retire_if_empty(writer, own, theirs)

    def _retire_if_empty(self, writer: Writer, storyline: StorylineId,
                         heir: StorylineId) -> None:
        retire_if_empty(writer, storyline, heir)


def storylines_after_merge(writer: Writer, keep: StoryId, absorb: StoryId) -> None:
    """``absorb`` was folded into ``keep``: ``keep`` takes its storyline if it
    had none, and a storyline left with no story answers with ``keep``'s."""
    kept, absorbed = writer.story_storylines_of((keep, absorb)).values()
    if absorbed is None:
        return
    writer.set_storyline(absorb, None)
    if kept is None:
        writer.set_storyline(keep, absorbed)
    else:
        retire_if_empty(writer, absorbed, kept)


def retire_if_empty(writer: Writer, storyline: StorylineId, heir: StorylineId) -> None:
    row = writer.storyline(storyline)
    if row is not None and row.status != "merged" and row.story_count == 0:
        writer.retire_storyline(storyline, heir)


class _Points:
    """Stories as linking sees them, each computed once per write: the
    clusterer's live state when it holds the story, else its stored row (a
    story that left the join window)."""

    def __init__(self, runtime: ServiceRuntime, writer: Writer) -> None:
        self._rt = runtime
        self._writer = writer
        self._known: dict[StoryId, StoryPoint | None] = {}

    def many(self, story_ids: Iterable[StoryId]) -> list[StoryPoint | None]:
        wanted = list(dict.fromkeys(story_ids))
        clusterer = self._rt.clusterer
        stored = [s for s in wanted if s not in self._known and not clusterer.knows(s)]
        if stored:
            rows = self._writer.story_centroids(stored)
            for story_id in stored:
                self._known[story_id] = _from_row(story_id, rows.get(story_id))
        for story_id in wanted:
            if story_id not in self._known:
                state = clusterer.story(story_id)
                assert state is not None, story_id
                self._known[story_id] = StoryPoint(story_id, state.direction, state.first,
                                                   state.last)
        return [self._known[s] for s in wanted]


def _from_row(story_id: StoryId, row: tuple[int, np.ndarray, float | None, float | None]
              | None) -> StoryPoint | None:
    if row is None:
        return None
    _, total, first, last = row
    norm = float(np.linalg.norm(total))
    if norm == 0.0:
        return None
    return StoryPoint(story_id, (total / norm).astype(np.float32), first, last)
