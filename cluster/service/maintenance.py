"""The service's maintenance, run inside each write transaction after the
batch: stories' rows written, ageing (active, dormant, archived), merges of
converged stories, a second look at the batch's one-article stories, splits
of stories that took in two events, and story presentation when no
background thread does it.

Each step reads and changes the clusterer only through its methods.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import numpy as np

from cluster.clustering.splitting import MIN_PART, checkpoints_crossed, propose_split
from cluster.clustering.timing import SECONDS_PER_DAY
from cluster.service.runtime import ServiceRuntime
from cluster.service.storyline_linking import StorylineLinking
from cluster.store import Writer
from cluster.stories.refresher import present_dirty
from cluster.storylines.linking import relink_due
from cluster.types import StoryId

REJUDGE_BLOCK = 4096
"""One-article stories judged again per index search (bounds the vectors and
articles held at once)."""


class Maintenance:
    """Runs inside each write transaction, after the batch's assignments."""

    def __init__(self, runtime: ServiceRuntime, present_inline: Callable[[], bool]) -> None:
        self._rt = runtime
        # whether presentation runs here, in the write (nothing presents in
        # the background); asked per run, as the scheduler may stop
        self._present_inline = present_inline
        self.storylines = StorylineLinking(runtime)
        self._relink: set[StoryId] = set()  # merged into or split this run

    def run(self, writer: Writer) -> None:
        """Save changed stories, age them, merge converged ones, judge the
        batch's one-article stories again, split two-event stories, and
        present the changed ones unless that is done in the background."""
        rt = self._rt
        grown = Counter(rt.changes.grown)
        self._save_pending(writer)
        now = rt.clock()
        rt.duplicates.expire(now)
        self._age_stories(writer, now)
        rt.clusterer.age(now)
        self._merge_stories(writer, now)
        self._rejudge_new_stories(writer, now)
        self._split_stories(writer, now)
        self._link_storylines(writer, grown, now)
        if self._present_inline():
            present_dirty(writer, rt.clusterer, rt.terms, rt.settings.hotness_half_life_hours)

    def _merge_stories(self, writer: Writer, now: float | None) -> None:
        """Fold each converged pair's smaller story into the larger; the absorbed
        id keeps answering with ``merged_into``."""
        merged: set[StoryId] = set()
        for keep, absorb, _ in self._rt.clusterer.merge_candidates(now):
            if keep in merged or absorb in merged:
                continue
            merged.update((keep, absorb))
            self._fold(writer, keep, absorb, now)

    def _fold(self, writer: Writer, keep: StoryId, absorb: StoryId, now: float | None) -> None:
        """Merge story ``absorb`` into ``keep``, in the clusterer and the store."""
        writer.move_assignments(absorb, keep)
        self._rt.clusterer.merge(keep, absorb)
        self._save_state(writer, keep)
        writer.set_status(absorb, "merged")
        absorbed = writer.story(absorb)
        if absorbed is not None:
            writer.save_story(
                absorb, status="merged", first_seen=absorbed.first_seen,
                last_updated=absorbed.last_updated, activity=absorbed.activity,
                article_count=0, centroid_sum=absorbed.centroid_sum, merged_into=keep,
            )
        writer.add_event(keep, "merged", now, other_id=absorb)
        writer.add_event(absorb, "merged", now, other_id=keep)
        self.storylines.story_merged(writer, keep, absorb)
        self._relink.add(keep)
        writer.forget_presented_count(keep)  # a merged story is relabelled

    def _rejudge_new_stories(self, writer: Writer, now: float | None) -> None:
        """Judge again each story that this batch started and that still holds
        only its first article. When that article arrived, the batch's later
        articles were not there to compare with; the story it belongs to may
        have started or grown since. If the join rule (the same score and
        threshold) now places it in another story, the two merge. One index
        search serves a block of them."""
        clusterer = self._rt.clusterer
        lonely = [story_id for story_id in sorted(self._rt.changes.grown)
                  if (state := clusterer.story(story_id)) is not None
                  and state.count == 1 and clusterer.is_recent(story_id)]
        moves: list[tuple[float, StoryId, StoryId]] = []
        # in blocks: a re-cluster's single maintenance pass holds every
        # one-article story of the store
        for start in range(0, len(lonely), REJUDGE_BLOCK):
            moves.extend(self._rejudged(writer, lonely[start:start + REJUDGE_BLOCK]))
        # Best first. A story that another one joined meanwhile is no longer
        # one article, and one whose chosen story was folded away is left as
        # it is: each move is the decision that was made.
        moves.sort(key=lambda move: (-move[0], move[1]))
        for _, story_id, target in moves:
            alone = clusterer.story(story_id)
            if alone is None or alone.count != 1 or not clusterer.knows(target):
                continue
            self._fold(writer, *clusterer.larger_first(target, story_id), now)

    def _rejudged(
        self, writer: Writer, lonely: list[StoryId],
    ) -> list[tuple[float, StoryId, StoryId]]:
        """(score, story, the story its article would now join) for those of
        these one-article stories that the join rule places elsewhere."""
        firsts = writer.first_members(lonely)
        articles = writer.articles_by_keys(firsts.values())
        lonely = [story_id for story_id in lonely
                  if story_id in firsts and firsts[story_id] in articles]
        if not lonely:
            return []
        keys = [firsts[story_id] for story_id in lonely]
        # a one-article story's sum is its article's vector, exactly (float32
        # held in float64): no read of the stored vectors
        vectors = np.stack([self._rt.clusterer.sum_of(story_id)
                            for story_id in lonely]).astype(np.float32)
        k = self._rt.settings.cluster.neighbours
        scores, found = self._rt.index.search(vectors, k + 1)
        moves: list[tuple[float, StoryId, StoryId]] = []
        # their best centroids in one search, as for an ingest batch (one more
        # than usual: each leaves its own story out)
        with self._rt.clusterer.batch(vectors,
                                      self._rt.settings.cluster.centroid_candidates + 1):
            for row, story_id in enumerate(lonely):
                article = articles[keys[row]]
                pairs = [(int(key), float(score))
                         for key, score in zip(found[row], scores[row], strict=True)
                         if key >= 0 and key != keys[row]]
                decision = self._rt.clusterer.predict_one(
                    vectors[row], article.published_at,
                    self._rt.neighbours(writer, vectors[row], keys[row], k, pairs),
                    body_chars=len(article.text),
                    terms=self._rt.weights(article.title, article.text),
                    batch_row=row, exclude=story_id)
                self._rt.clusterer.keep_read_back(decision)
                if decision.story_id is not None:
                    moves.append((decision.score, story_id, decision.story_id))
        return moves

    def _split_stories(self, writer: Writer, now: float | None) -> None:
        """Split the stories of this batch that reached a check size and read as
        two events (cluster/clustering/splitting.py); the part without the story's first
        article becomes a new story."""
        grown = Counter(self._rt.changes.grown)
        self._rt.changes.grown.clear()
        params = self._rt.settings.cluster
        if params.split_threshold <= 0.0:
            return
        for story_id in sorted(grown):
            state = self._rt.clusterer.story(story_id)
            if state is None or not checkpoints_crossed(state.count - grown[story_id],
                                                        state.count):
                continue
            count, chars = writer.story_text_chars(story_id)
            if count != state.count or count < 2 * MIN_PART or (
                    chars < params.full_text_chars * count):
                continue  # headlines: too little text to tell two events apart
            members = writer.story_articles(story_id)
            weights = [self._rt.weights(m.title, m.text) for m in members]
            vectors = writer.vectors([m.key for m in members])
            mask = propose_split(vectors, weights, params.split_threshold,
                                 1.0 - params.lexical_weight)
            if mask is None:
                continue
            if mask[0]:
                mask = ~mask  # the story keeps its first article, and its id
            new_id = writer.create_story(partition=self._rt.partition)
            moved = [(vectors[i], members[i].published_at, weights[i])
                     for i in np.flatnonzero(mask)]
            kept = [(members[i].published_at, weights[i]) for i in np.flatnonzero(~mask)]
            for order, i in enumerate(np.flatnonzero(mask)):
                writer.assign(members[i].key, new_id, None, order == 0)
            self._rt.clusterer.split_off(story_id, new_id, moved, kept)
            writer.add_event(story_id, "split", now, other_id=new_id)
            writer.add_event(new_id, "split", now, other_id=story_id)
            self._save_state(writer, story_id)
            self._save_state(writer, new_id)
            writer.forget_presented_count(story_id)
            self._relink.update((story_id, new_id))

    def _link_storylines(self, writer: Writer, grown: Counter[StoryId],
                         now: float | None) -> None:
        """Link the stories that started, grew past a check size, merged or
        split in this write (cluster/storylines/linking.py)."""
        due = set(self._relink)
        self._relink.clear()
        near = dict(self._rt.changes.near)
        self._rt.changes.near.clear()
        if not self.storylines.enabled:
            return
        # stories whose last article is older than the join window have left
        # the clusterer's memory within the batch: their rows say their size
        clusterer = self._rt.clusterer
        stored = writer.story_centroids(
            s for s in grown if not clusterer.knows(s))
        for story_id, added in grown.items():
            state = clusterer.story(story_id)
            count = state.count if state is not None else (
                stored[story_id][0] if story_id in stored else 0)
            if count and relink_due(count - added, count):
                due.add(story_id)
        # the stories near the articles a story took in, found when they were
        # placed, are its candidates without another search
        self.storylines.link(writer, due, now, near)

    def _age_stories(self, writer: Writer, now: float | None) -> None:
        """Active stories quiet for active_days become dormant, dormant ones quiet for
        dormant_days archived (and leave the clusterer): indexed range queries over
        the stories that crossed a line, not a pass over every live story."""
        if now is None:
            return
        for statuses, target, days in ((("active", "dormant"), "archived",
                                         self._rt.settings.dormant_days),
                                        (("active",), "dormant", self._rt.settings.active_days)):
            for story_id in writer.stories_quiet_since(statuses, now - days * SECONDS_PER_DAY):
                if not self._rt.owns(story_id):
                    continue  # another partition's, which ages it by its own clock
                writer.set_status(story_id, target)
                writer.add_event(story_id, "status_changed", now)
                if target == "dormant":  # complete now: one more look, with its whole centroid
                    self._relink.add(story_id)
                if target == "archived":
                    self._rt.clusterer.drop(story_id)

    def _save_pending(self, writer: Writer) -> None:
        for story_id in sorted(self._rt.changes.pending):
            if self._rt.clusterer.knows(story_id):
                self._save_state(writer, story_id)
        self._rt.changes.pending.clear()

    def _save_state(self, writer: Writer, story_id: StoryId) -> None:
        state = self._rt.clusterer.story(story_id)
        assert state is not None, story_id
        activity = state.last if state.last is not None else time.time()
        status = self._status_for(state.last)
        writer.save_story(
            story_id, status=status, first_seen=state.first, last_updated=state.last,
            activity=activity, article_count=state.count, centroid_sum=state.total,
        )
        if status == "archived":  # e.g. an old article re-posted into an archived story
            self._rt.clusterer.drop(story_id)

    def _status_for(self, last: float | None) -> str:
        now = self._rt.clock()
        if last is None or now is None:
            return "active"
        age_days = (now - last) / SECONDS_PER_DAY
        if age_days <= self._rt.settings.active_days:
            return "active"
        return "dormant" if age_days <= self._rt.settings.dormant_days else "archived"
