"""The time model of joins and merges: a Gaussian of the gap between an
article's time and a story's span, or between two stories' spans (0 when
they overlap), so a long-running story stays joinable at its recent end.
Undated items get a fixed factor: without a date there is no evidence that
two similar reports are close in time. Why the width is 24 hours, and what
narrower and wider ones cost, is in docs/QUALITY.md."""

from __future__ import annotations

import math

from cluster.settings import ClusterParams

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0


def _gaussian(gap_seconds: float, params: ClusterParams) -> float:
    hours = gap_seconds / SECONDS_PER_HOUR
    return math.exp(-0.5 * (hours / params.time_scale_hours) ** 2)


def time_factor(params: ClusterParams, first: float | None, last: float | None,
                timestamp: float | None) -> float:
    """An article at ``timestamp`` against a story spanning ``first``-``last``."""
    if timestamp is None or first is None or last is None:
        return params.undated_time_factor
    return _gaussian(max(0.0, first - timestamp, timestamp - last), params)


def pair_time_factor(params: ClusterParams, a: tuple[float | None, float | None],
                     b: tuple[float | None, float | None]) -> float:
    """Two stories, each given as its (first, last) times."""
    (a_first, a_last), (b_first, b_last) = a, b
    if a_first is None or a_last is None or b_first is None or b_last is None:
        return params.undated_time_factor
    return _gaussian(max(0.0, b_first - a_last, a_first - b_last), params)
