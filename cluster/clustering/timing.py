"""The time model of joins and merges: a Gaussian of the gap between an
article's time and a story's span, or between two stories' spans (0 when
they overlap), so a long-running story stays joinable at its recent end.
Undated items get a fixed factor: without a date there is no evidence that
two similar reports are close in time.

The Gaussian's width adapts to the stream (``TimeScale``). How far apart
in time one event's coverage is published differs between feeds: a
roundup dates its articles alike, wire copy follows within hours, analysis
and regional outlets come a day or more later. A narrow width keeps apart
the next event of the same kind where coverage is tight and splits
coverage that trickles in; a wide one the reverse. So the width follows
the evidence: the gaps at which articles meet a story they match strongly
on content alone. Measured in docs/QUALITY.md ("Coverage spread over hours
or days")."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

import numpy as np

from cluster.clustering.centroid import StoryState
from cluster.settings import ClusterParams

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
STRONG_MATCH = 0.55
"""A time-free join score from which an article's best candidate is taken to
be coverage of the same event, and its gap to be evidence of the stream's
spread."""
EVIDENCE = 256
"""The most recent gaps the width is estimated from."""
MIN_EVIDENCE = 16
"""Gaps needed before the estimate replaces ``time_scale_hours``."""
SPREAD_FACTOR = 4.0
"""Width = the narrowest width + this × the median gap, within the bounds."""

Span = tuple[float | None, float | None]


def _gaussian(gap_seconds: float, scale_hours: float) -> float:
    hours = gap_seconds / SECONDS_PER_HOUR
    return math.exp(-0.5 * (hours / scale_hours) ** 2)


def gap_seconds(first: float, last: float, timestamp: float) -> float:
    """From ``timestamp`` to the span ``first``-``last`` (0 inside it)."""
    return max(0.0, first - timestamp, timestamp - last)


def time_factor(scale_hours: float, undated_factor: float, first: float | None,
                last: float | None, timestamp: float | None) -> float:
    """An article at ``timestamp`` against a story spanning ``first``-``last``."""
    if timestamp is None or first is None or last is None:
        return undated_factor
    return _gaussian(gap_seconds(first, last, timestamp), scale_hours)


def pair_time_factor(scale_hours: float, undated_factor: float, a: Span, b: Span) -> float:
    """Two stories, each given as its (first, last) times."""
    (a_first, a_last), (b_first, b_last) = a, b
    if a_first is None or a_last is None or b_first is None or b_last is None:
        return undated_factor
    return _gaussian(max(0.0, b_first - a_last, a_first - b_last), scale_hours)


def strong_match_gap(timestamp: float | None,
                     matches: Iterable[tuple[float, StoryState]]) -> float | None:
    """The gap (hours) from an article at ``timestamp`` to the span of the
    story it matches best on content alone (``matches``: time-free score and
    story), when that match reaches ``STRONG_MATCH``; None without a date."""
    if timestamp is None:
        return None
    dated = [(score, state.first, state.last) for score, state in matches
             if state.first is not None and state.last is not None]
    if not dated:
        return None
    score, first, last = max(dated, key=lambda match: match[0])
    if score < STRONG_MATCH:
        return None
    return gap_seconds(first, last, timestamp) / SECONDS_PER_HOUR


class TimeScale:
    """The width (σ, hours) of the time factor, estimated from the stream:
    ``time_scale_min_hours`` + 4 × the median of the last 256 gaps at which an
    article met a story it matched strongly on content alone, within
    ``time_scale_min_hours``-``time_scale_max_hours``; ``time_scale_hours``
    until 16 such gaps are seen, and always when ``adaptive_time_scale`` is
    off. The gaps are the clusterer's learned state: the writer keeps them in
    the store, so a restart goes on with the same width."""

    def __init__(self, params: ClusterParams) -> None:
        self._params = params
        self._gaps: deque[float] = deque(maxlen=EVIDENCE)
        self.hours = params.time_scale_hours

    def observe(self, gap_hours: float | None) -> None:
        """One more gap (hours); None (no strong match) changes nothing."""
        if gap_hours is not None and self._params.adaptive_time_scale:
            self._gaps.append(gap_hours)
            self._estimate()

    def evidence(self) -> list[float]:
        """The gaps held (hours, oldest first)."""
        return list(self._gaps)

    def restore(self, gaps: Iterable[float]) -> None:
        self._gaps.clear()
        if self._params.adaptive_time_scale:
            self._gaps.extend(float(g) for g in gaps if math.isfinite(g) and g >= 0.0)
        self._estimate()

    def _estimate(self) -> None:
        params = self._params
        if len(self._gaps) < MIN_EVIDENCE:
            self.hours = params.time_scale_hours
            return
        low, high = params.time_scale_min_hours, params.time_scale_max_hours
        spread = float(np.median(np.fromiter(self._gaps, dtype=np.float64)))
        self.hours = min(high, max(low, low + SPREAD_FACTOR * spread))
