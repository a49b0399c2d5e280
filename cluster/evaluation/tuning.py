"""Grid search of clusterer settings over several labelled files, choosing the
setting with the best *mean* BCubed F1 across files (one setting must serve
every kind of news, so no file may pick its own)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cluster.articles.jsonl import LabelledArticle
from cluster.embedding.models import Embedder, embedding_text
from cluster.evaluation.replay import run_clusterer
from cluster.evaluation.scores import score
from cluster.settings import Settings


@dataclass(frozen=True)
class Trial:
    overrides: dict[str, Any]
    f1_by_file: dict[str, float]

    @property
    def mean_f1(self) -> float:
        return sum(self.f1_by_file.values()) / len(self.f1_by_file)


def grid(space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    names = sorted(space)
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*(space[n] for n in names))]


def tune(
    settings: Settings, embedder: Embedder, files: Mapping[str, Sequence[LabelledArticle]],
    space: Mapping[str, Sequence[Any]], on_trial: Callable[[Trial], None] | None = None,
) -> list[Trial]:
    """Every combination in ``space``, best mean F1 first (ties: grid order)."""
    for items in files.values():  # embed once; the trials then read the cache
        embedder.embed([embedding_text(i.article.title, i.article.text, settings.lead_chars)
                        for i in items])
    trials: list[Trial] = []
    for overrides in grid(space):
        candidate = settings.with_cluster(**overrides)
        f1s: dict[str, float] = {}
        for name, items in files.items():
            predicted, _ = run_clusterer(candidate, embedder, items)
            f1s[name] = score([i.cluster for i in items], predicted).bcubed_f1
        trial = Trial(overrides, f1s)
        trials.append(trial)
        if on_trial:
            on_trial(trial)
    order = {id(t): n for n, t in enumerate(trials)}
    return sorted(trials, key=lambda t: (-t.mean_f1, order[id(t)]))
