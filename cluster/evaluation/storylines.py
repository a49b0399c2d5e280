"""Storyline quality: BCubed over articles, where each article's gold is the
storyline its gold story was annotated with (a story without one stands
alone), side by side with two baselines.

Two views of the storyline level are scored. "From gold stories": the
linking rule applied to the gold stories, each complete, in the order of
their first articles; it isolates the storyline level from the story
level. "End to end": the storylines that the production replay built
online from the articles (stories found by the clusterer, linked while they
formed). The baselines: every story alone, and average-linkage
agglomerative clustering of story centroids at the single best cosine
threshold of a grid (chosen on the scored data itself, so an upper bound
for that rule).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cluster.articles.jsonl import LabelledArticle
from cluster.evaluation.scores import bcubed
from cluster.settings import ClusterParams
from cluster.storylines.linking import StoryPoint, link_in_order
from cluster.types import StoryId

THRESHOLDS = tuple(round(0.30 + 0.025 * step, 3) for step in range(23))
"""The baseline's grid of cosine thresholds (0.30 to 0.85)."""


@dataclass(frozen=True)
class StorylineResult:
    method: str
    precision: float
    recall: float
    f1: float
    storylines: int
    """Storylines of two or more stories found."""


def read_annotation(path: Path) -> dict[str, str | None]:
    """Gold story label → its storyline's name (None: the story stands alone)."""
    annotation: dict[str, str | None] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            annotation[str(row["story"])] = (None if row["storyline"] is None
                                             else str(row["storyline"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: not a storyline annotation row "
                             f"({error})") from error
    return annotation


def gold_storylines(items: Sequence[LabelledArticle],
                    annotation: Mapping[str, str | None]) -> list[str]:
    return [f"line:{line}" if (line := annotation.get(str(i.cluster))) else f"alone:{i.cluster}"
            for i in items]


def score_storylines(
    items: Sequence[LabelledArticle], vectors: np.ndarray, annotation: Mapping[str, str | None],
    params: ClusterParams, found_stories: Sequence[Hashable] | None = None,
    found_storylines: Sequence[Hashable | None] | None = None,
) -> list[StorylineResult]:
    """Every row of the storyline report: from gold stories (the rule and
    both baselines) and, given the replay's stories and storylines, end to end."""
    gold = gold_storylines(items, annotation)
    results = _rows("from gold stories", items, vectors, gold,
                    [str(i.cluster) for i in items], params)
    if found_stories is not None and found_storylines is not None:
        stories = [f"found:{s}" for s in found_stories]
        results += _rows("end to end", items, vectors, gold, stories, params)
        online = [f"line:{line}" if line is not None else story
                  for line, story in zip(found_storylines, stories, strict=True)]
        results.append(_result("end to end: storylines built online", gold, online, stories))
    return results


def _rows(name: str, items: Sequence[LabelledArticle], vectors: np.ndarray, gold: list[str],
          stories: list[str], params: ClusterParams) -> list[StorylineResult]:
    members = _members(stories)
    order = sorted(members, key=lambda s: (min(_time(items[r]) for r in members[s]), s))
    points = [StoryPoint(StoryId(n), _direction(vectors, members[s]),
                         min(_time(items[r]) for r in members[s]),
                         max(_time(items[r]) for r in members[s]))
              for n, s in enumerate(order)]
    groups = link_in_order(points, params.storyline_threshold, params.storyline_window_days)
    linked = {s: groups[StoryId(n)] for n, s in enumerate(order)}
    return [*_baselines(name, vectors, gold, stories),
            _result(f"{name}: the linking rule", gold, [linked[s] for s in stories], stories)]


def _baselines(name: str, vectors: np.ndarray, gold: list[str],
               stories: list[str]) -> list[StorylineResult]:
    from sklearn.cluster import AgglomerativeClustering

    members = _members(stories)
    names = sorted(members, key=str)
    alone = _result(f"{name}: every story alone", gold, stories, stories)
    if len(names) < 2:
        return [alone]
    centroids = np.stack([_direction(vectors, members[s]) for s in names])
    best: StorylineResult | None = None
    for threshold in THRESHOLDS:
        model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                        distance_threshold=1.0 - threshold)
        groups = dict(zip(names, model.fit_predict(centroids).tolist(), strict=True))
        result = _result(f"{name}: linking story centroids (best cosine {threshold:.3f})",
                         gold, [groups[s] for s in stories], stories)
        if best is None or result.f1 > best.f1:
            best = result
    assert best is not None
    return [alone, best]


def _result(method: str, gold: list[str], predicted: Sequence[Hashable],
            stories: Sequence[Hashable]) -> StorylineResult:
    p, r, f = bcubed(gold, predicted)
    stories_in: dict[Hashable, set[Hashable]] = defaultdict(set)
    for group, story in zip(predicted, stories, strict=True):
        stories_in[group].add(story)
    return StorylineResult(method, p, r, f, sum(1 for s in stories_in.values() if len(s) >= 2))


def _members(labels: Sequence[Hashable]) -> dict[Hashable, list[int]]:
    members: dict[Hashable, list[int]] = defaultdict(list)
    for position, label in enumerate(labels):
        members[label].append(position)
    return members


def _direction(vectors: np.ndarray, rows: list[int]) -> np.ndarray:
    total = np.asarray(vectors)[rows].astype(np.float64).sum(axis=0)
    return np.asarray(total / (np.linalg.norm(total) or 1.0), dtype=np.float32)


def _time(item: LabelledArticle) -> float:
    return item.article.timestamp or 0.0
