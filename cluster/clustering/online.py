"""The online story clusterer.

Single pass over a time-ordered stream, after Miranda et al. (2018,
"Multilingual clustering of streaming news") and Staykovski et al. (2019):
each article is compared with a handful of candidate stories and joins the
best one if its score clears a threshold, else it starts a story.

Candidates are (a) the stories of the article's nearest stored neighbours
and (b) the nearest joinable story centroids. For a candidate story S the
score is

    dense(S) = w · cos(v, centroid(S)) + (1 − w) · max_{u ∈ S ∩ kNN} cos(v, u)
    time(S)  = exp(−gap² / 2σ²),  gap = distance from t to S's time span
    score(S) = dense(S) · (1 − λ · (1 − time(S)))

Centroid similarity rewards fitting the story as a whole; best-member
similarity lets a story that develops keep absorbing articles close to its
newest members (the "chaining" that a pure centroid misses). The Gaussian
of the gap to the story's span, not to its mean time, keeps a long-running
story joinable at its recent end (SCStory, Yoon et al. 2023, use a similar
temporal kernel). Undated articles or stories get a fixed time(S)
(``undated_time_factor``): without a date there is no evidence that two
similar reports are close in time, so they need more textual similarity.
σ follows the stream (``timing.TimeScale``); dense(S) is blended with word
overlap, and ``_retold`` says when a full text joins on dense(S) alone.

Estimator conventions: ``__init__`` stores parameters; learned state ends in
``_`` and is the clusterer's own (callers use its methods); ``predict_one``
decides without changing anything, ``learn_one`` records the decision. Ties
are broken by story id: the result is a pure function of the input order.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from cluster.clustering import timing
from cluster.clustering.centroid import CentroidTable, Similarities, StoryState, unit_directions
from cluster.clustering.decisions import Decision, Neighbour, StoryLoader
from cluster.clustering.timing import SECONDS_PER_DAY
from cluster.settings import ClusterParams
from cluster.text.lexical import Profile, Weights
from cluster.types import StoryId, Vector

RESTORE_BLOCK = 8192
"""Quiet stories' sums turned into centroids per step (bounds the sums held)."""


class OnlineClusterer:
    """Assigns articles to stories one at a time."""

    MERGE_PARTNERS = 5
    MERGE_MARGIN = 4

    def __init__(
        self, params: ClusterParams, dimension: int, loader: StoryLoader | None = None
    ) -> None:
        self.params = params
        self.dimension = dimension
        self.loader = loader
        self.stories_: dict[StoryId, StoryState] = {}
        # Only stories updated within the join window are scanned for every
        # article; quieter ones (dormant, kept for wake-ups and story search)
        # wait in a second table, so the per-article scan does not grow with
        # the history the service keeps. With a loader, a quiet story keeps
        # only its centroid in memory; its full state (sum, lexical profile)
        # is read back from the store on the rare occasions it is needed, so
        # memory follows the join window, not the dormant period.
        self.centroids_ = CentroidTable(dimension)
        self.quiet_ = CentroidTable(dimension)
        self._by_last: list[tuple[float, StoryId]] = []
        # Stories changed since merges were last considered: a pair of unchanged
        # stories has the same merge score as last time, so only pairs with a
        # changed story need scoring.
        self.changed_: set[StoryId] = set()
        # Pairs of stories split apart by maintenance: never merged again (the
        # merge score saw them as one story before the split).
        self.apart_: set[tuple[StoryId, StoryId]] = set()
        # How spread in time this stream's coverage is: the time factor's width.
        self.time_scale_ = timing.TimeScale(params)
        # Profiles read from the store to score a story whose profile is not
        # in memory yet (after a restart): a memo of store reads, not learned
        # state, so predicting leaves the learned state as it was. A story's
        # entry leaves the memo when the story changes (``profile``) or
        # leaves memory (``age``, ``drop``), as a profile held in its state would.
        self._read_profiles: dict[StoryId, Profile] = {}

    # -- queries on the learned state ------------------------------------------
    def story(self, story_id: StoryId) -> StoryState | None:
        """The in-memory state of a story (None if quiet, unknown or gone);
        for reading: change stories through the learning methods."""
        return self.stories_.get(story_id)

    def knows(self, story_id: StoryId) -> bool:
        """Whether the story's full state is in memory."""
        return story_id in self.stories_

    def is_recent(self, story_id: StoryId) -> bool:
        """Whether the story was updated within the join window."""
        return story_id in self.centroids_

    def holds(self, story_id: StoryId) -> bool:
        """Whether the story is live here: in full, recent or quiet."""
        return story_id in self.stories_ or story_id in self.centroids_ or story_id in self.quiet_

    def sum_of(self, story_id: StoryId) -> np.ndarray:
        """The sum of the members' vectors of a story held in memory."""
        return self.stories_[story_id].total

    def keep_apart(self, pairs: Iterable[tuple[StoryId, StoryId]]) -> None:
        """Never merge these pairs of stories (split apart earlier)."""
        self.apart_.update((min(a, b), max(a, b)) for a, b in pairs)

    def apart_pairs(self) -> frozenset[tuple[StoryId, StoryId]]:
        """The pairs (lower id first) that are never merged."""
        return frozenset(self.apart_)

    def known_story_ids(self) -> list[StoryId]:
        """The stories whose full state is in memory, by id."""
        return sorted(self.stories_)

    @contextmanager
    def batch(self, vectors: np.ndarray, candidates: int) -> Iterator[None]:
        """Score the centroids of ``vectors`` (one batch's articles, in order)
        in one search; ``predict_one`` then takes ``batch_row``."""
        self.centroids_.begin_batch(vectors, candidates)
        try:
            yield
        finally:
            self.centroids_.end_batch()

    # -- state ---------------------------------------------------------------
    def quiet_cutoff(self, now: float | None) -> float | None:
        """Stories last updated before this are quiet at ``now`` (None: all are kept
        whole, as without a loader nothing could read a quiet story back)."""
        if now is None or self.loader is None:
            return None
        return now - self.params.window_days * SECONDS_PER_DAY

    def restore(
        self, stories: Iterable[tuple[StoryId, int, np.ndarray, float | None, float | None]],
        now: float | None = None, quiet_expected: int = 0,
    ) -> None:
        """Load live stories as (id, count, sum, first, last). With ``now`` and a
        loader, those outside the join window keep only their centroid; lexical
        profiles are loaded when first needed. ``quiet_expected`` (about how
        many will be quiet) sizes the quiet table once: each block of centroids
        then goes straight in, and no second copy of them is ever held."""
        cutoff = self.quiet_cutoff(now)
        if cutoff is not None:
            self.quiet_.reserve(quiet_expected)
        quiet_ids: list[StoryId] = []
        quiet_sums: list[np.ndarray] = []
        for story_id, count, total, first, last in stories:
            if cutoff is not None and last is not None and last < cutoff:
                quiet_ids.append(story_id)
                quiet_sums.append(total)
                if len(quiet_sums) >= RESTORE_BLOCK:
                    self.quiet_.put_many(quiet_ids, unit_directions(quiet_sums))
                    quiet_ids = []
                continue
            lazy = None if self.loader is not None else Profile()
            state = StoryState(count, np.array(total, dtype=np.float64), first, last, lazy)
            self.stories_[story_id] = state
            self._place(story_id, state)
            self.changed_.add(story_id)
        if quiet_sums:
            self.quiet_.put_many(quiet_ids, unit_directions(quiet_sums))

    def state(self, story_id: StoryId) -> StoryState | None:
        """A live story's full state, read back from the store if it is quiet."""
        state = self.stories_.get(story_id)
        if state is None and self.loader is not None and story_id in self.quiet_:
            state = self.loader.state(story_id)
            if state is not None:
                self.stories_[story_id] = state
                if state.last is not None:
                    heapq.heappush(self._by_last, (state.last, story_id))
        return state

    def profile(self, state: StoryState, story_id: StoryId) -> Profile:
        """The story's lexical profile, held in its state from now on (to change)."""
        if state.profile is None:
            read = self._read_profiles.pop(story_id, None)
            if read is None:
                read = self.loader.profile(story_id) if self.loader else Profile()
            state.profile = read
        return state.profile

    def _peek_profile(self, state: StoryState, story_id: StoryId) -> Profile:
        """The story's lexical profile for scoring, without changing its state."""
        if state.profile is not None:
            return state.profile
        if self.loader is None:
            return Profile()
        read = self._read_profiles.get(story_id)
        if read is None:
            read = self._read_profiles[story_id] = self.loader.profile(story_id)
        return read

    def _peek_state(self, story_id: StoryId) -> StoryState | None:
        """A live story's full state, read back if it is quiet, not kept."""
        state = self.stories_.get(story_id)
        if state is None and self.loader is not None and story_id in self.quiet_:
            state = self.loader.state(story_id)
        return state

    def _place(self, story_id: StoryId, state: StoryState) -> None:
        """Put a story's current centroid in the recent table (it just changed)."""
        self.quiet_.discard(story_id)
        self.centroids_.put(story_id, state.direction)
        if state.last is not None:
            heapq.heappush(self._by_last, (state.last, story_id))

    def age(self, now: float | None) -> None:
        """Move stories not updated within the join window to the quiet table."""
        if now is None:
            return
        cutoff = now - self.params.window_days * SECONDS_PER_DAY
        heap = self._by_last
        while heap and heap[0][0] < cutoff:
            last, story_id = heapq.heappop(heap)
            state = self.stories_.get(story_id)
            # entries are not removed when a story changes: skip outdated ones
            if state is None or state.last != last:
                continue
            self.centroids_.discard(story_id)
            self.quiet_.put(story_id, state.direction)
            if self.loader is not None:
                del self.stories_[story_id]
                self._read_profiles.pop(story_id, None)
                self.changed_.discard(story_id)

    def is_joinable(self, story_id: StoryId, timestamp: float | None) -> bool:
        state = self.stories_.get(story_id)
        if state is None:
            return False
        if timestamp is None or state.last is None:
            return True
        return timestamp - state.last <= self.params.window_days * SECONDS_PER_DAY

    # -- scoring -------------------------------------------------------------
    def time_factor(self, state: StoryState, timestamp: float | None) -> float:
        return timing.time_factor(self.time_scale_.hours, self.params.undated_time_factor,
                                  state.first, state.last, timestamp)

    def time_scale_hours(self) -> float:
        """The time factor's current width (see ``timing.TimeScale``)."""
        return self.time_scale_.hours

    def observe(self, decision: Decision) -> None:
        """Learn from a new article's decision how spread in time the stream's
        coverage is (the write path calls this for each new article)."""
        self.time_scale_.observe(decision.evidence_hours)

    def time_evidence(self) -> list[float]:
        """What the time factor's width is estimated from, to keep in the store."""
        return self.time_scale_.evidence()

    def restore_time_evidence(self, gaps: Iterable[float]) -> None:
        self.time_scale_.restore(gaps)

    def score(
        self, vector: Vector, timestamp: float | None, story_id: StoryId,
        best_member: float | None, terms: Weights | None = None,
        centroid_sim: float | None = None, timeless: bool = False,
        state: StoryState | None = None,
    ) -> float:
        """The join score of the article for a story (see the module docstring)."""
        if state is None:
            state = self.stories_[story_id]
        if centroid_sim is None:
            centroid_sim = float(state.direction @ vector)
        member_sim = centroid_sim if best_member is None else best_member
        w = self.params.centroid_weight
        dense = w * centroid_sim + (1.0 - w) * member_sim
        beta = self.params.lexical_weight
        if beta > 0.0 and terms is not None:
            dense = (1.0 - beta) * dense + beta * self._peek_profile(state, story_id).cosine(terms)
        if timeless:
            return dense
        return self._timed(dense, state, timestamp)

    def _timed(self, timeless: float, state: StoryState, timestamp: float | None) -> float:
        penalty = self.params.time_weight * (1.0 - self.time_factor(state, timestamp))
        return timeless * (1.0 - penalty)

    def threshold_for(self, body_chars: int | None) -> float:
        """Similarities between short texts run lower under the same model, so
        the join threshold slides linearly from ``headline_threshold`` (no body)
        to ``join_threshold`` (a body of ``full_text_chars`` or more). Unknown
        length (None) means full text."""
        if body_chars is None:
            return self.params.join_threshold
        share = min(1.0, body_chars / self.params.full_text_chars)
        low, high = self.params.headline_threshold, self.params.join_threshold
        return low + (high - low) * share

    def predict_one(
        self, vector: Vector, timestamp: float | None, neighbours: Sequence[Neighbour],
        body_chars: int | None = None, terms: Weights | None = None,
        batch_row: int | None = None, exclude: StoryId | None = None,
    ) -> Decision:
        """The story this article would join (nothing changes). ``body_chars``
        calibrates the threshold for short texts (see ``threshold_for``);
        ``exclude`` is a story not to consider (the article's own, when a
        stored article is judged again)."""
        best_member: dict[StoryId, float] = {}
        for neighbour in neighbours:  # best similarity first per story
            story_id = neighbour.story_id
            if story_id == exclude:
                continue
            previous = best_member.get(story_id)
            if previous is None or neighbour.similarity > previous:
                best_member[story_id] = neighbour.similarity
        sleeping = {s for s in best_member if (s in self.stories_ or s in self.quiet_)
                    and not self.is_joinable(s, timestamp)}
        best_member = {s: v for s, v in best_member.items() if self.is_joinable(s, timestamp)}
        candidates = set(best_member)
        similarities = self.centroids_.similarities(vector, batch_row)
        wanted = self.params.centroid_candidates
        nearest = similarities.nearest(wanted + (exclude is not None))
        for story_id in [s for s, _ in nearest if s != exclude][:wanted]:
            if self.is_joinable(story_id, timestamp):
                candidates.add(story_id)
            else:
                sleeping.add(story_id)
        best: tuple[float, StoryId] | None = None
        matches: list[tuple[float, StoryState]] = []  # time-free scores: evidence of spread
        for story_id in sorted(candidates):
            # A quiet story read back for a wake-up check is in memory but not in
            # the recent table; an older article can still be within its window.
            recent = story_id in self.centroids_
            state = self.stories_[story_id]
            timeless = self.score(vector, timestamp, story_id, best_member.get(story_id), terms,
                                  similarities.of(story_id) if recent else None, timeless=True,
                                  state=state)
            value = self._timed(timeless, state, timestamp)
            if best is None or value > best[0]:
                best = (value, story_id)
            matches.append((timeless, state))
        evidence = timing.strong_match_gap(timestamp, matches)
        threshold = self.threshold_for(body_chars)
        if best is not None and best[0] >= threshold:
            return Decision(best[1], best[0], len(candidates), evidence_hours=evidence)
        retold = self._retold(vector, timestamp, candidates, best_member, similarities,
                              body_chars)
        if retold is not None:
            return Decision(retold[1], retold[0], len(candidates), evidence_hours=evidence)
        read_back: list[tuple[StoryId, StoryState]] = []
        woken = self._wake(vector, timestamp, sleeping, best_member, terms, read_back)
        if woken is not None:
            return Decision(woken[1], woken[0], len(candidates) + len(sleeping),
                            tuple(read_back), evidence)
        return Decision(None, 0.0 if best is None else best[0], len(candidates),
                        tuple(read_back), evidence)

    def _retold(
        self, vector: Vector, timestamp: float | None, candidates: set[StoryId],
        best_member: dict[StoryId, float], similarities: Similarities,
        body_chars: int | None,
    ) -> tuple[float, StoryId] | None:
        """The best candidate by the dense score alone (time included), when it
        reaches ``dense_join_threshold``: the same event told in other words
        (an opinion piece, an analysis) shares few words with the reports, and
        word overlap would hold it apart. Full text only: headlines of two
        events of one kind embed closer than full texts do. Never looser than
        the join threshold itself."""
        limit = max(self.params.dense_join_threshold, self.params.join_threshold)
        if limit > 1.0 or (body_chars is not None and body_chars < self.params.full_text_chars):
            return None
        best: tuple[float, StoryId] | None = None
        for story_id in sorted(candidates):
            recent = story_id in self.centroids_
            value = self.score(vector, timestamp, story_id, best_member.get(story_id), None,
                               similarities.of(story_id) if recent else None)
            if value >= limit and (best is None or value > best[0]):
                best = (value, story_id)
        return best

    def keep_read_back(self, decision: Decision) -> None:
        """Keep in memory the quiet stories that a decision read back from the
        store: an older article of the same stream may still be within their
        window, and scores them as candidates from then on."""
        for story_id, state in decision.read_back:
            if story_id not in self.stories_ and story_id in self.quiet_:
                self.stories_[story_id] = state
                if state.last is not None:
                    heapq.heappush(self._by_last, (state.last, story_id))

    def _wake(
        self, vector: Vector, timestamp: float | None, sleeping: set[StoryId],
        best_member: dict[StoryId, float], terms: Weights | None,
        read_back: list[tuple[StoryId, StoryState]],
    ) -> tuple[float, StoryId] | None:
        """A quiet (dormant) story outside the time window wakes up when an
        article matches it strongly on content alone: a follow-up days later.
        Quiet stories are found through the article's nearest stored
        neighbours: a story it matches that strongly has members among them."""
        if self.params.wake_threshold > 1.0:
            return None
        best: tuple[float, StoryId] | None = None
        w, beta = self.params.centroid_weight, self.params.lexical_weight
        for story_id in sorted(sleeping):
            table = self.centroids_ if story_id in self.centroids_ else self.quiet_
            centroid = float(table.rows([story_id])[0] @ vector)
            member = best_member.get(story_id, centroid)
            # the most the score could be with a perfect lexical match: most
            # quiet stories are ruled out before their state is read back
            if (1.0 - beta) * (w * centroid + (1.0 - w) * member) + beta < \
                    self.params.wake_threshold:
                continue
            state = self.stories_.get(story_id)
            if state is None:
                state = self._peek_state(story_id)
                if state is None:
                    continue
                read_back.append((story_id, state))
            value = self.score(vector, timestamp, story_id, best_member.get(story_id), terms,
                               timeless=True, state=state)
            if value >= self.params.wake_threshold and (best is None or value > best[0]):
                best = (value, story_id)
        return best

    # -- learning ------------------------------------------------------------
    def learn_one(
        self, story_id: StoryId, vector: Vector, timestamp: float | None,
        terms: Weights | None = None,
    ) -> StoryState:
        """Record that the article joined ``story_id`` (a new id creates the story)."""
        state = self.state(story_id)
        if state is not None and terms:
            self.profile(state, story_id)  # loaded before it changes
        if state is None:
            state = StoryState(0, np.zeros(self.dimension, dtype=np.float64), None, None)
            self.stories_[story_id] = state
        state.add(vector, timestamp, terms)
        self._place(story_id, state)
        self.changed_.add(story_id)
        return state

    def forget_one(
        self, story_id: StoryId, vector: Vector, first: float | None, last: float | None,
        terms: Weights | None = None,
    ) -> StoryState | None:
        """Take a member out (deleted or re-assigned article); the caller passes
        the time span of the remaining members. Returns None once empty."""
        state = self.state(story_id)
        if state is None:
            return None
        state.count -= 1
        state.total = state.total - vector.astype(np.float64)
        if terms:
            self.profile(state, story_id).add(terms, sign=-1.0)
        state.first, state.last = first, last
        if state.count <= 0:
            self.drop(story_id)
            return None
        self._place(story_id, state)
        self.changed_.add(story_id)
        return state

    def nearest_stories(self, vector: Vector, k: int) -> list[tuple[StoryId, float]]:
        """The k live stories (recent or quiet) whose centroids are most similar
        to ``vector``."""
        found = self.centroids_.nearest(vector, k) + self.quiet_.nearest(vector, k)
        found.sort(key=lambda item: (-item[1], item[0]))
        return found[:k]

    def drop(self, story_id: StoryId) -> None:
        """Stop considering a story (empty, archived or merged away)."""
        self.stories_.pop(story_id, None)
        self._read_profiles.pop(story_id, None)
        self.centroids_.discard(story_id)
        self.quiet_.discard(story_id)
        self.changed_.discard(story_id)

    def merge(self, keep: StoryId, absorb: StoryId) -> StoryState:
        """Fold story ``absorb`` into ``keep``."""
        kept, other = self.stories_[keep], self.stories_[absorb]
        self.profile(kept, keep)
        self.profile(other, absorb)
        kept.absorb(other)
        self.drop(absorb)
        self._place(keep, kept)
        self.changed_.add(keep)
        return kept

    def split_off(
        self, story_id: StoryId, new_id: StoryId,
        moved: Sequence[tuple[Vector, float | None, Weights]],
        kept: Sequence[tuple[float | None, Weights]],
    ) -> None:
        """Move the ``moved`` members of a story to the new story ``new_id``.
        Both lexical profiles are rebuilt from their members' current weights,
        and the two stories are kept apart from then on."""
        state = self.state(story_id)
        if state is None:
            raise KeyError(story_id)
        part = StoryState(0, np.zeros(self.dimension, dtype=np.float64), None, None)
        for vector, timestamp, terms in moved:
            part.add(vector, timestamp, terms)
        state.count -= len(moved)
        state.total = state.total - part.total
        self._read_profiles.pop(story_id, None)
        state.profile = Profile()
        for _, terms in kept:
            state.profile.add(terms)
        times = [t for t, _ in kept if t is not None]
        state.first, state.last = (min(times), max(times)) if times else (None, None)
        self.stories_[new_id] = part
        for story, changed in ((story_id, state), (new_id, part)):
            self._place(story, changed)
            self.changed_.add(story)
        self.apart_.add((min(story_id, new_id), max(story_id, new_id)))

    def merge_score(self, a_id: StoryId, b_id: StoryId, dense: float) -> float:
        """The join score applied to two stories: centroid similarity blended
        with lexical-profile similarity, times the time factor of their spans.
        The profiles' similarity is corrected for attenuation (as the split
        test's is): two stories of one event, each a few reports in varied
        words, have profiles less alike than the event's coverage is."""
        beta = self.params.lexical_weight
        mixed = dense
        a, b = self.stories_[a_id], self.stories_[b_id]
        if beta > 0.0:
            mixed = (1.0 - beta) * dense + beta * self._peek_profile(
                a, a_id).corrected_similarity(self._peek_profile(b, b_id), a.count, b.count)
        penalty = self.params.time_weight * (1.0 - timing.pair_time_factor(
            self.time_scale_.hours, self.params.undated_time_factor, (a.first, a.last),
            (b.first, b.last)))
        return mixed * (1.0 - penalty)

    def larger_first(self, a: StoryId, b: StoryId) -> tuple[StoryId, StoryId]:
        """The pair as (keeps its id, is absorbed) in a merge: the larger story
        keeps it; of two the same size, the older (lower id)."""
        if (self.stories_[a].count, -a) >= (self.stories_[b].count, -b):
            return a, b
        return b, a

    def merge_candidates(self, now: float | None) -> list[tuple[StoryId, StoryId, float]]:
        """Pairs of joinable stories that have converged: their merge score
        reaches ``merge_threshold``. Only pairs with a story changed since the
        last call are scored (the others scored the same last time). Returned
        as (larger, smaller, score), best first."""
        threshold = self.params.merge_threshold
        changed, self.changed_ = self.changed_, set()
        if threshold > 1.0 or len(self.stories_) < 2:
            return []
        fresh = [s for s in sorted(changed)
                 if s in self.centroids_ and self.is_joinable(s, now)]
        if len(self.centroids_) < 2 or not fresh:
            return []
        # The score cannot exceed (1 - beta) * dense + beta, so pairs below this
        # dense similarity are skipped without computing lexical overlap.
        beta = self.params.lexical_weight
        floor = (threshold - beta) / (1.0 - beta) if beta < 1.0 else -1.0
        # Each changed story is compared with its few nearest stories by
        # centroid only (itself among them); beyond those, a merge would need
        # lexical overlap far above the dense similarity.
        partners = min(self.MERGE_PARTNERS + 1, len(self.centroids_))
        seen: set[tuple[StoryId, StoryId]] = set()
        pairs: list[tuple[StoryId, StoryId, float]] = []
        for story, nearest in zip(fresh, self._joinable_nearest(fresh, partners, now),
                                  strict=True):
            for other, dense in nearest:
                pair = (min(story, other), max(story, other))
                if other == story or dense < floor or pair in seen or pair in self.apart_:
                    continue
                seen.add(pair)
                value = self.merge_score(story, other, dense)
                if value < threshold:
                    continue
                pairs.append((*self.larger_first(story, other), value))
        pairs.sort(key=lambda p: (-p[2], p[0], p[1]))
        return pairs

    def _joinable_nearest(
        self, stories: Sequence[StoryId], k: int, now: float | None,
    ) -> list[list[tuple[StoryId, float]]]:
        """Each story's k nearest joinable stories by centroid, itself included.
        Ageing has already moved stories outside the window out of the table,
        so a search over the table almost always is the answer; a story whose
        list lost members to the joinability check gets a full scan."""
        table = self.centroids_
        found = table.top(table.rows(stories), k + self.MERGE_MARGIN)
        result = []
        for story, nearest in zip(stories, found, strict=True):
            kept = [(other, score) for other, score in nearest
                    if self.is_joinable(other, now)]
            if len(kept) < k and len(nearest) < len(table):
                kept = [(other, score) for other, score in table.nearest(
                    table.rows([story])[0], len(table)) if self.is_joinable(other, now)]
            result.append(kept[:k])
        return result
