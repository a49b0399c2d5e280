"""Variants of a labelled file that test the clusterer against what real
feeds do: dates that give only the day, coverage spread over hours or
days, arrival in another order, and several files (say, articles and
their translations) as one."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from cluster.articles.jsonl import LabelledArticle


def day_only(items: Sequence[LabelledArticle]) -> list[LabelledArticle]:
    """Each dated article's time cut to its day (UTC midnight), in the same
    arrival order: a feed that gives only a date."""
    return [dataclasses.replace(item, article=dataclasses.replace(
        item.article, published_at=_midnight(item.article.published_at)))
        for item in items]


def _midnight(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    # a bare date ("2021-04-22") is read as UTC midnight, so a day-only
    # feed's articles land there
    return when.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def spread(items: Sequence[LabelledArticle], hours: float,
           seed: int = 0) -> list[LabelledArticle]:
    """Each dated article moved later by a random 0 to ``hours`` hours (drawn
    per article id and seed, so the same whatever the file's order), then
    replayed in the new time order: coverage of one event published over a
    day or more, as follow-ups, analysis and regional outlets publish it,
    where a file dates every article of a story alike."""
    moved = [dataclasses.replace(item, article=dataclasses.replace(
        item.article, published_at=_later(item.article.published_at, hours,
                                          f"{seed}:{item.article.id}")))
        for item in items]
    return sorted(moved, key=lambda i: (i.article.timestamp is None,
                                        i.article.timestamp or 0.0, i.article.id))


def _later(when: datetime | None, hours: float, key: str) -> datetime | None:
    if when is None:
        return None
    return when + timedelta(hours=random.Random(key).uniform(0.0, hours))


def shuffled(items: Sequence[LabelledArticle], seed: int) -> list[LabelledArticle]:
    """The same articles in a random arrival order (for undated files, whose
    order is otherwise by id)."""
    order = list(items)
    random.Random(seed).shuffle(order)
    return order


def together_in_time_order(files: Iterable[Sequence[LabelledArticle]]) -> list[LabelledArticle]:
    """Every file's articles as one replay, in time order (undated last, ties
    by id), gold stories shared between files."""
    items = [item for file in files for item in file]
    return sorted(items, key=lambda i: (i.article.timestamp is None,
                                        i.article.timestamp or 0.0, i.article.id))
