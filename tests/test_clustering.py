"""Invariants of the online clusterer."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cluster.articles.incoming import Article
from cluster.clustering.centroid import CentroidTable, StoryState
from cluster.clustering.decisions import Neighbour
from cluster.clustering.online import OnlineClusterer
from cluster.embedding.models import normalise_rows
from cluster.service.facade import StoryService
from cluster.settings import ClusterParams
from cluster.text.lexical import Profile
from cluster.types import StoryId
from tests.conftest import make_settings

TOPICS = [
    "earthquake strikes southern peru coast arequipa rescuers",
    "central bank holds interest rates inflation eases",
    "pilots strike airline cancels flights frankfurt munich",
    "measles cases surge europe vaccination rates fall",
]


def stream(make_article: Callable[..., Article], n: int = 40) -> list[Article]:
    rng = np.random.default_rng(4)
    articles = []
    for i in range(n):
        words = TOPICS[int(rng.integers(0, len(TOPICS)))].split()
        picked = " ".join(rng.choice(words, size=5, replace=False))
        # Several articles share each timestamp, to exercise the tie order by id.
        articles.append(make_article(picked, id=f"s-{i:03d}", hours=float(i // 3)))
    return articles


def replay(tmp_path: Path, articles: list[Article]) -> dict[str, int]:
    service = StoryService(make_settings(tmp_path)).open()
    ordered = sorted(articles, key=lambda a: (a.timestamp, a.id))
    for start in range(0, len(ordered), 7):
        service.ingest(ordered[start:start + 7])
    result = dict(service.assignments())
    service.close()
    return result


def test_replaying_the_same_stream_gives_identical_stories(
    tmp_path: Path, make_article: Callable[..., Article]
) -> None:
    articles = stream(make_article)
    first = replay(tmp_path / "one", articles)
    second = replay(tmp_path / "two", articles)
    assert first == second
    assert 1 < len(set(first.values())) < len(articles)


def test_every_article_in_exactly_one_live_story_and_no_empty_story(
    service: StoryService, make_article: Callable[..., Article]
) -> None:
    articles = stream(make_article, 30)
    service.ingest(articles)
    service.delete_article(articles[0].id)
    assignments = service.assignments()
    assert set(assignments) == {a.id for a in articles[1:]}
    counts: dict[int, int] = {}
    for story in assignments.values():
        counts[story] = counts.get(story, 0) + 1
    with service.store.read() as reader:
        stories = reader.stories_with_status(("active", "dormant", "archived"))
    assert {s.id: s.article_count for s in stories} == counts
    assert all(s.article_count > 0 for s in stories)


def unit(values: list[float]) -> np.ndarray:
    return normalise_rows(np.array([values], dtype=np.float32))[0]


def test_time_proximity_lowers_the_score_outside_the_span() -> None:
    clusterer = OnlineClusterer(ClusterParams(time_scale_hours=24, time_weight=0.5), 2)
    clusterer.learn_one(StoryId(1), unit([1, 0]), 0.0)
    clusterer.learn_one(StoryId(1), unit([1, 0]), 3600.0 * 10)
    state = clusterer.stories_[StoryId(1)]
    assert clusterer.time_factor(state, 3600.0 * 5) == 1.0  # inside the span
    assert clusterer.time_factor(state, 3600.0 * 34) < 1.0
    assert clusterer.time_factor(state, None) == clusterer.params.undated_time_factor
    near = clusterer.score(unit([1, 0]), 3600.0 * 11, StoryId(1), None)
    far = clusterer.score(unit([1, 0]), 3600.0 * 200, StoryId(1), None)
    assert near > far


def test_join_or_create_by_threshold_and_ties_by_id() -> None:
    clusterer = OnlineClusterer(ClusterParams(join_threshold=0.8, time_weight=0.0), 2)
    clusterer.learn_one(StoryId(2), unit([1, 0]), None)
    clusterer.learn_one(StoryId(1), unit([1, 0]), None)
    decision = clusterer.predict_one(unit([1, 0.1]), None, [])
    assert decision.story_id == StoryId(1)  # equal scores: the lower id wins
    assert clusterer.predict_one(unit([0, 1]), None, []).new_story


def test_best_member_similarity_counts(tmp_path: Path) -> None:
    params = ClusterParams(join_threshold=0.9, centroid_weight=0.0, time_weight=0.0)
    clusterer = OnlineClusterer(params, 2)
    clusterer.learn_one(StoryId(1), unit([1, 0]), None)
    clusterer.learn_one(StoryId(1), unit([0, 1]), None)
    query = unit([0.1, 1])
    assert clusterer.predict_one(query, None, []).new_story  # centroid only: too far
    near = [Neighbour(float(query @ unit([0, 1])), StoryId(1), None)]
    assert clusterer.predict_one(query, None, near).story_id == StoryId(1)


def test_stories_outside_the_window_are_not_candidates() -> None:
    clusterer = OnlineClusterer(ClusterParams(join_threshold=0.5, window_days=1), 2)
    clusterer.learn_one(StoryId(1), unit([1, 0]), 0.0)
    similar = unit([0.8, 0.6])  # cosine 0.8: joins inside the window, not outside
    assert clusterer.predict_one(similar, 3600.0, []).story_id == StoryId(1)
    assert clusterer.predict_one(similar, 3 * 86400.0, []).new_story


def test_a_quiet_story_wakes_only_for_a_strong_match() -> None:
    params = ClusterParams(join_threshold=0.5, window_days=1, wake_threshold=0.9)
    clusterer = OnlineClusterer(params, 2)
    clusterer.learn_one(StoryId(1), unit([1, 0]), 0.0)
    assert clusterer.predict_one(unit([1, 0.1]), 3 * 86400.0, []).story_id == StoryId(1)
    assert clusterer.predict_one(unit([0.8, 0.6]), 3 * 86400.0, []).new_story
    off = OnlineClusterer(params.model_copy(update={"wake_threshold": 1.01}), 2)
    off.learn_one(StoryId(1), unit([1, 0]), 0.0)
    assert off.predict_one(unit([1, 0]), 3 * 86400.0, []).new_story


def test_the_same_event_in_other_words_joins_on_the_dense_score_alone() -> None:
    # Cosine 0.6 to the story and no word in common: the mixed score
    # (0.6 * 0.6 + 0.4 * 0 = 0.36) misses join_threshold 0.375, the dense
    # score alone reaches dense_join_threshold 0.5.
    params = ClusterParams(join_threshold=0.375, headline_threshold=0.375, lexical_weight=0.4,
                           dense_join_threshold=0.5, time_weight=0.0)
    retold = unit([0.6, 0.8])
    strangers = {"opinion": 1.0, "column": 1.0}

    def decide(update: dict[str, float], body_chars: int | None) -> StoryId | None:
        clusterer = OnlineClusterer(params.model_copy(update=update), 2)
        clusterer.learn_one(StoryId(1), unit([1, 0]), None, {"quake": 1.0, "peru": 1.0})
        decision = clusterer.predict_one(retold, None, [], body_chars=body_chars,
                                         terms=strangers)
        return decision.story_id

    assert decide({}, 2000) == StoryId(1)
    assert decide({}, None) == StoryId(1)  # unknown length counts as full text
    assert decide({}, 0) is None  # a bare headline needs shared words
    assert decide({"dense_join_threshold": 1.01}, 2000) is None  # disabled
    assert decide({"dense_join_threshold": 0.7}, 2000) is None  # not close enough
    # never looser than the join threshold: with it at 0.65 the dense path needs 0.65
    assert decide({"join_threshold": 0.65}, 2000) is None


def test_the_time_scale_follows_how_spread_strong_matches_are() -> None:
    from cluster.clustering.timing import EVIDENCE, MIN_EVIDENCE, TimeScale

    params = ClusterParams()  # 24 h until evidence; 12 + 4 x median within 12-36
    scale = TimeScale(params)
    for _ in range(MIN_EVIDENCE - 1):
        scale.observe(0.0)
    assert scale.hours == 24.0  # too little evidence yet
    scale.observe(0.0)
    assert scale.hours == 12.0  # tight coverage: the narrowest width
    for _ in range(EVIDENCE):
        scale.observe(3.0)
    assert scale.hours == 24.0  # only the last EVIDENCE gaps count
    for _ in range(EVIDENCE):
        scale.observe(40.0)
    assert scale.hours == 36.0  # the widest width
    kept = scale.evidence()
    again = TimeScale(params)
    again.restore([*kept, float("nan"), -1.0])  # unusable values are left out
    assert (again.evidence(), again.hours) == (kept, 36.0)
    fixed = TimeScale(params.model_copy(update={"adaptive_time_scale": False}))
    fixed.observe(40.0)
    fixed.restore(kept)
    assert (fixed.evidence(), fixed.hours) == ([], 24.0)
    with pytest.raises(ValueError, match="time_scale_min_hours"):
        ClusterParams(time_scale_min_hours=40.0)


def test_a_decision_reports_the_gap_to_a_strong_match_and_observing_it_narrows() -> None:
    hour = 3600.0
    clusterer = OnlineClusterer(ClusterParams(lexical_weight=0.0), 2)
    clusterer.learn_one(StoryId(1), unit([1, 0]), 0.0)
    strong = clusterer.predict_one(unit([1, 0.05]), 5 * hour, [])
    assert strong.evidence_hours == pytest.approx(5.0)
    assert clusterer.time_scale_hours() == 24.0  # predicting learns nothing
    weak = clusterer.predict_one(unit([0.3, 1]), 5 * hour, [])  # cosine 0.29: not evidence
    assert weak.evidence_hours is None
    assert clusterer.predict_one(unit([1, 0]), None, []).evidence_hours is None  # undated
    late = unit([1, 0.05])
    before = clusterer.predict_one(late, 20 * hour, []).score
    for _ in range(16):
        clusterer.observe(clusterer.predict_one(unit([1, 0]), 0.0, []))
    assert clusterer.time_scale_hours() == 12.0
    # the narrower width lowers the score of an article 20 hours out
    assert clusterer.predict_one(late, 20 * hour, []).score < before


def test_quiet_stories_leave_the_per_article_scan_but_stay_findable() -> None:
    params = ClusterParams(join_threshold=0.5, window_days=1, wake_threshold=0.9)
    clusterer = OnlineClusterer(params, 2)
    clusterer.learn_one(StoryId(1), unit([1, 0]), 0.0)
    clusterer.learn_one(StoryId(2), unit([0, 1]), 2.5 * 86400.0)
    clusterer.age(3 * 86400.0)
    assert StoryId(1) in clusterer.quiet_ and StoryId(1) not in clusterer.centroids_
    assert StoryId(2) in clusterer.centroids_
    # story search still sees it; the join scan does not, but a strong match
    # among the article's stored neighbours wakes it up and brings it back
    assert clusterer.nearest_stories(unit([1, 0]), 1)[0][0] == StoryId(1)
    strong = unit([1, 0.1])
    assert clusterer.predict_one(strong, 3 * 86400.0, []).new_story
    near = [Neighbour(float(strong @ unit([1, 0])), StoryId(1), 0.0)]
    assert clusterer.predict_one(strong, 3 * 86400.0, near).story_id == StoryId(1)
    clusterer.learn_one(StoryId(1), strong, 3 * 86400.0)
    assert StoryId(1) in clusterer.centroids_ and StoryId(1) not in clusterer.quiet_
    clusterer.age(3.5 * 86400.0)  # its old entry in the ageing heap is outdated
    assert StoryId(1) in clusterer.centroids_


def test_centroid_state_adds_and_removes_exactly() -> None:
    state = StoryState(0, np.zeros(2), None, None)
    for v in ([1.0, 0.0], [0.0, 1.0], [0.6, 0.8]):
        state.add(np.array(v, dtype=np.float32), 1.0)
    table = CentroidTable(2)
    table.put(StoryId(5), state.direction)
    table.put(StoryId(6), unit([-1, 0]))
    table.discard(StoryId(6))
    assert table.nearest(unit([1, 1]), 5)[0][0] == StoryId(5)
    assert len(table) == 1


def test_putting_many_centroids_at_once_gives_what_one_at_a_time_gives() -> None:
    rng = np.random.default_rng(3)
    rows = normalise_rows(rng.normal(size=(150, 8))).astype(np.float32)
    ids = [StoryId(1000 - 3 * n) for n in range(150)]
    one, many = CentroidTable(8), CentroidTable(8)
    for story, row in zip(ids[:10], rows[:10], strict=True):
        one.put(story, row)
    many.put_many(ids[:10], rows[:10])
    for story, row in zip(ids[10:], rows[10:], strict=True):
        one.put(story, row)
    many.put_many(ids[10:], rows[10:])  # grows the matrix past 64 rows
    again = normalise_rows(rng.normal(size=(2, 8))).astype(np.float32)
    for story, row in zip([ids[5], StoryId(7)], again, strict=True):
        one.put(story, row)
    many.put_many([ids[5], StoryId(7)], again)  # one already held: one at a time
    assert one.stories() == many.stories()
    np.testing.assert_array_equal(one.rows(one.stories()), many.rows(many.stories()))
    query = normalise_rows(rng.normal(size=(1, 8)))[0]
    assert one.nearest(query, 20) == many.nearest(query, 20)


class NoLoader:
    """A loader that is never asked: restore only sorts stories into tables."""

    def state(self, story_id: StoryId) -> StoryState | None:
        raise AssertionError("restore read a story back")

    def profile(self, story_id: StoryId) -> Profile:
        raise AssertionError("restore read a profile back")


class KeptLoader:
    """Reads back the states it was given, as the store would."""

    def __init__(self, states: dict[StoryId, StoryState]) -> None:
        self.states = states

    def state(self, story_id: StoryId) -> StoryState | None:
        kept = self.states.get(story_id)
        if kept is None:
            return None
        return StoryState(kept.count, kept.total.copy(), kept.first, kept.last, None)

    def profile(self, story_id: StoryId) -> Profile:
        return Profile()


def test_an_older_article_can_join_a_quiet_story_read_back_for_a_wake_check() -> None:
    # A batch's newer article made the clock pass the story's window and read
    # the quiet story back to check a wake-up; an older article of the batch is
    # still within the story's window, so the story is a candidate for it,
    # though its centroid is in the quiet table, not the recent one.
    day = 86400.0
    params = ClusterParams(join_threshold=0.5, headline_threshold=0.5, lexical_weight=0.0,
                           window_days=3.0, time_weight=0.0)
    states: dict[StoryId, StoryState] = {}
    clusterer = OnlineClusterer(params, 2, KeptLoader(states))
    vector = unit([1, 0])
    states[StoryId(1)] = clusterer.learn_one(StoryId(1), vector, 0.0)
    clusterer.age(4 * day)
    assert StoryId(1) not in clusterer.stories_ and StoryId(1) in clusterer.quiet_
    check = clusterer.predict_one(vector, 4 * day, [Neighbour(1.0, StoryId(1), 0.0)])
    assert [story for story, _ in check.read_back] == [StoryId(1)]
    clusterer.keep_read_back(check)  # as the write path does after a wake-up check
    decision = clusterer.predict_one(vector, 2 * day, [Neighbour(1.0, StoryId(1), 0.0)])
    assert decision.story_id == 1


def test_restore_puts_quiet_stories_in_blocks_sized_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("cluster.clustering.online.RESTORE_BLOCK", 64)  # several blocks
    rng = np.random.default_rng(8)
    day = 86_400.0
    now = 100 * day
    sums = rng.normal(size=(300, 8)).astype(np.float32)
    # ids 1..300; every third story was updated inside the 3-day window
    rows = [(StoryId(n + 1), 3, sums[n], 0.0, now - (day if n % 3 == 0 else 10 * day))
            for n in range(300)]
    quiet = [r for r in rows if r[4] < now - 3 * day]
    sized, unsized = (OnlineClusterer(ClusterParams(window_days=3), 8, NoLoader())
                      for _ in range(2))
    sized.restore(iter(rows), now, quiet_expected=len(quiet))
    unsized.restore(iter(rows), now)
    for clusterer in (sized, unsized):
        assert clusterer.quiet_.stories() == [r[0] for r in quiet]
        assert sorted(clusterer.stories_) == [r[0] for r in rows if r not in quiet]
        expected = normalise_rows(np.stack([r[2] for r in quiet]).astype(np.float64))
        np.testing.assert_allclose(clusterer.quiet_.rows(clusterer.quiet_.stories()),
                                   expected, rtol=1e-6, atol=1e-7)
        state = clusterer.stories_[StoryId(1)]
        assert state.total.dtype == np.float64  # joinable sums are updated in float64
        np.testing.assert_allclose(state.total, sums[0])
    assert sized.quiet_.capacity == len(quiet) < unsized.quiet_.capacity  # once, not doubled


def test_merge_candidates_need_convergence_and_time_overlap() -> None:
    params = ClusterParams(merge_threshold=0.95, time_scale_hours=24, lexical_weight=0.0)
    clusterer = OnlineClusterer(params, 2)
    clusterer.learn_one(StoryId(1), unit([1, 0]), 0.0)
    clusterer.learn_one(StoryId(1), unit([1, 0.01]), 0.0)
    clusterer.learn_one(StoryId(2), unit([1, 0.02]), 3600.0)
    clusterer.learn_one(StoryId(3), unit([1, 0.02]), 3600.0 * 500)
    clusterer.learn_one(StoryId(4), unit([0, 1]), 0.0)
    assert [(a, b) for a, b, _ in clusterer.merge_candidates(None)] == [(1, 2)]


def test_two_stories_of_one_event_in_varied_words_merge() -> None:
    # Each report shares two words with every other and words the rest its own
    # way: the plain cosine of two 3-report profiles is 3/7, the corrected one
    # 1, so the merge score (undated: 0.8 x) is 0.8 x (0.6 x 0.5 + 0.4 x 1).
    params = ClusterParams(merge_threshold=0.5, lexical_weight=0.4)
    clusterer = OnlineClusterer(params, 2)
    angle = math.acos(0.5) / 2
    for story, sign in ((1, 1), (2, -1)):
        for i in range(3):
            words = {"c0": 1.0, "c1": 1.0, **{f"u{story}{i}_{j}": 1.0 for j in range(8)}}
            norm = math.sqrt(sum(v * v for v in words.values()))
            clusterer.learn_one(StoryId(story), unit([math.cos(angle), sign * math.sin(angle)]),
                                None, {t: v / norm for t, v in words.items()})
    one, two = clusterer.stories_[StoryId(1)], clusterer.stories_[StoryId(2)]
    assert one.profile is not None and two.profile is not None
    assert one.profile.similarity(two.profile) == pytest.approx(3 / 7)
    assert clusterer.merge_score(StoryId(1), StoryId(2), 0.5) == pytest.approx(0.8 * 0.7)
    assert [(a, b) for a, b, _ in clusterer.merge_candidates(None)] == [(1, 2)]


def test_predict_one_can_leave_a_story_out() -> None:
    params = ClusterParams(join_threshold=0.5, headline_threshold=0.5, lexical_weight=0.0)
    clusterer = OnlineClusterer(params, 2)
    own, other = unit([1, 0]), unit([1, 0.3])
    clusterer.learn_one(StoryId(1), own, 0.0)
    clusterer.learn_one(StoryId(2), other, 0.0)
    neighbours = [Neighbour(1.0, StoryId(1), 0.0), Neighbour(float(own @ other), StoryId(2), 0.0)]
    assert clusterer.predict_one(own, 0.0, neighbours).story_id == 1
    assert clusterer.predict_one(own, 0.0, neighbours, exclude=StoryId(1)).story_id == 2
    assert clusterer.predict_one(own, 0.0, neighbours[:1], exclude=StoryId(1)).story_id == 2


def test_batch_centroid_scores_equal_fresh_ones_while_stories_change() -> None:
    rng = np.random.default_rng(11)
    table = CentroidTable(8)
    for story in range(40):
        table.put(StoryId(story), normalise_rows(rng.normal(size=(1, 8)))[0])
    batch = normalise_rows(rng.normal(size=(12, 8)))
    table.begin_batch(batch, 10)
    for row in range(12):
        if row % 3 == 0:  # a story changes, one is dropped, one is created mid-batch
            table.put(StoryId(row), normalise_rows(rng.normal(size=(1, 8)))[0])
            table.discard(StoryId(39 - row))
            table.put(StoryId(100 + row), normalise_rows(rng.normal(size=(1, 8)))[0])
        batched = table.similarities(batch[row], batch_row=row)
        fresh = table.similarities(batch[row])
        got, want = batched.nearest(10), fresh.nearest(10)
        assert [s for s, _ in got] == [s for s, _ in want]
        assert [v for _, v in got] == pytest.approx([v for _, v in want], abs=1e-6)
        for story in (StoryId(row), StoryId(100 + row - row % 3)):
            if story in table:
                assert batched.of(story) == pytest.approx(fresh.of(story), abs=1e-6)
    table.end_batch()


def test_batch_centroid_scores_when_an_articles_best_stories_all_changed() -> None:
    """More of an article's best stories changed mid-batch than the batch-start
    search kept in reserve: it is scored in full, with the same answer."""
    rng = np.random.default_rng(5)
    table = CentroidTable(8)
    for story in range(120):
        table.put(StoryId(story), normalise_rows(rng.normal(size=(1, 8)))[0])
    table.discard(StoryId(7))  # a free row from before the batch
    batch = normalise_rows(rng.normal(size=(3, 8)))
    table.begin_batch(batch, 10)
    for row in range(3):
        best = table.similarities(batch[row]).nearest(40)
        for story, _ in best[:30]:  # the 30 best move a little
            table.put(story, normalise_rows(rng.normal(size=(1, 8)))[0])
        got = table.similarities(batch[row], batch_row=row).nearest(10)
        want = table.similarities(batch[row]).nearest(10)
        assert [s for s, _ in got] == [s for s, _ in want]
        assert [v for _, v in got] == pytest.approx([v for _, v in want], abs=1e-6)
    table.end_batch()


def test_top_skips_free_rows_and_returns_k_live_stories() -> None:
    table = CentroidTable(2)
    for story, v in enumerate(([1, 0], [0.9, 0.1], [0, 1], [-1, 0])):
        table.put(StoryId(story), unit(v))
    table.discard(StoryId(1))
    (found,) = table.top(unit([1, 0]).reshape(1, -1), 2)
    assert [s for s, _ in found] == [StoryId(0), StoryId(2)]


class ProfileLoader(KeptLoader):
    """Kept states, with a lexical profile for each story as the store would give."""

    def profile(self, story_id: StoryId) -> Profile:
        profile = Profile()
        profile.add({f"term{story_id}": 1.0, "shared": 0.5})
        return profile


def learned_state(clusterer: OnlineClusterer) -> object:
    """Everything the clusterer has learned, as plain values."""
    return (
        {story: (state.count, state.total.tolist(), state.first, state.last,
                 state.profile is None)
         for story, state in sorted(clusterer.stories_.items())},
        clusterer.centroids_.stories(),
        clusterer.centroids_.rows(clusterer.centroids_.stories()).tolist(),
        clusterer.quiet_.stories(),
        sorted(clusterer._by_last),
        sorted(clusterer.changed_),
        sorted(clusterer.apart_),
        clusterer.time_evidence(),
        clusterer.time_scale_hours(),
    )


def test_predict_one_changes_nothing_it_has_learned() -> None:
    # Joins, new stories, lazily loaded profiles and a wake-up check that reads
    # a quiet story back: none of them may change the learned state.
    day = 86400.0
    params = ClusterParams(join_threshold=0.5, headline_threshold=0.5, window_days=1.0,
                           wake_threshold=0.5, lexical_weight=0.3)
    states: dict[StoryId, StoryState] = {}
    clusterer = OnlineClusterer(params, 2, ProfileLoader(states))
    states[StoryId(1)] = clusterer.learn_one(StoryId(1), unit([1, 0]), 0.0, {"term1": 1.0})
    clusterer.age(3 * day)  # story 1 is quiet: only its centroid stays
    clusterer.restore([(StoryId(2), 2, 2 * unit([0, 1]).astype(np.float64), 3 * day, 3 * day)])
    clusterer.keep_apart([(StoryId(1), StoryId(2))])
    before = learned_state(clusterer)
    terms = {"term1": 1.0, "shared": 0.2}
    woken = clusterer.predict_one(unit([1, 0.05]), 3 * day, [Neighbour(0.99, StoryId(1), 0.0)],
                                  terms=terms)
    joined = clusterer.predict_one(unit([0.05, 1]), 3 * day, [], terms=terms)
    new = clusterer.predict_one(unit([-1, -1]), 3 * day, [], terms=terms)
    assert (woken.story_id, joined.story_id, new.story_id) == (StoryId(1), StoryId(2), None)
    assert learned_state(clusterer) == before
    assert [story for story, _ in woken.read_back] == [StoryId(1)]
    clusterer.keep_read_back(woken)  # the write path keeps what was read back
    assert clusterer.knows(StoryId(1))


def test_nothing_outside_the_clusterer_touches_its_learned_state() -> None:
    # The clusterer owns its state: other modules call its methods.
    root = Path(__file__).resolve().parent.parent
    learned = ("stories_", "centroids_", "quiet_", "apart_", "changed_", "_by_last",
               "time_scale_")
    offenders = []
    for folder in ("cluster", "api", "scripts", "benchmarks"):
        for path in sorted((root / folder).rglob("*.py")):
            if path.parent.name == "clustering":
                continue
            text = path.read_text(encoding="utf-8")
            offenders += [f"{path.relative_to(root)}: .{name}" for name in learned
                          if re.search(rf"\.{name}(?!\w)", text)]
    assert offenders == []
