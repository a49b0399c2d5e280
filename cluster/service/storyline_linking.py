"""Storylines kept current inside each write: the stories that a batch
created, grew past a check size, merged, split or left active are linked
to the storyline of their best match (``cluster/storylines/linking.py``).

Candidates come from the article index, not a second index of stories: the
stories of the stored articles nearest to a story's centroid. One index
search serves the batch's stories; a candidate's centroid is the
clusterer's when it holds the story, else its stored row's.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from cluster.service.runtime import ServiceRuntime
from cluster.store import StoryRow, Writer
from cluster.storylines.linking import StoryPoint, admits, best_link
from cluster.types import StoryId, StorylineId


class StorylineLinking:
    """Links stories to storylines, and keeps storylines right when stories merge."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self._rt = runtime

    @property
    def enabled(self) -> bool:
        return self._rt.settings.cluster.storyline_threshold <= 1.0

    def link(self, writer: Writer, story_ids: Iterable[StoryId], now: float | None) -> None:
        """Link each of these stories, in the order they started."""
        if not self.enabled or len(self._rt.index) == 0:
            return
        points = _Points(self._rt, writer)
        stories = sorted((p for p in points.many(set(story_ids)) if p is not None),
                         key=lambda p: (p.first is None, p.first or 0.0, p.id))
        if not stories:
            return
        params = self._rt.settings.cluster
        k = min(params.storyline_neighbours, len(self._rt.index))
        _, found = self._rt.index.search(np.stack([p.direction for p in stories]), k)
        placed = writer.placement(int(key) for key in found.ravel() if key >= 0)
        nearby = [{placed[int(key)][0] for key in row if key >= 0 and int(key) in placed}
                  for row in found]
        points.many({s for near in nearby for s in near})  # one read for the batch
        for story, near in zip(stories, nearby, strict=True):
            candidates = [p for p in points.many(near) if p is not None]
            match = best_link(story, candidates, params.storyline_threshold,
                              params.storyline_window_days)
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
        if not self.enabled:
            return
        kept, absorbed = writer.story_storylines_of((keep, absorb)).values()
        if absorbed is None:
            return
        writer.set_storyline(absorb, None)
        if kept is None:
            writer.set_storyline(keep, absorbed)
        else:
            self._retire_if_empty(writer, absorbed, kept)

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
            rows = self._writer.stories_by_ids(stored)
            for story_id in stored:
                self._known[story_id] = _from_row(rows.get(story_id))
        for story_id in wanted:
            if story_id not in self._known:
                state = clusterer.story(story_id)
                assert state is not None, story_id
                self._known[story_id] = StoryPoint(story_id, state.direction, state.first,
                                                   state.last)
        return [self._known[s] for s in wanted]


def _from_row(row: StoryRow | None) -> StoryPoint | None:
    if row is None or row.status == "merged" or row.article_count == 0:
        return None
    norm = float(np.linalg.norm(row.centroid_sum))
    if norm == 0.0:
        return None
    return StoryPoint(row.id, (row.centroid_sum / norm).astype(np.float32), row.first_seen,
                      row.last_updated)
