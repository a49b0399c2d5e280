"""Several labelled files replayed as one stream, as production sees them:
political stories, disasters, markets and long-running crises side by side.

Each file's timeline is shifted so that its first dated article lands on the
stream's common start (the earliest first date of all files), so the files
overlap in time instead of following each other; undated articles stay
undated. Article ids and gold story ids are kept apart per file (a file's
index is prefixed), so a story can only be right within its own file, and
the scores of each file inside the stream can be read off the same replay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta

from cluster.articles.jsonl import LabelledArticle, replay_order


def merged_stream(
    files: Mapping[str, Sequence[LabelledArticle]],
) -> tuple[list[LabelledArticle], list[str]]:
    """The files' articles as one stream in replay order, and the file each
    one came from (same order)."""
    firsts = {name: min((i.article.published_at for i in items
                         if i.article.published_at is not None), default=None)
              for name, items in files.items()}
    dated = [first for first in firsts.values() if first is not None]
    start = min(dated) if dated else None
    merged: list[LabelledArticle] = []
    origin: dict[str, str] = {}
    for number, (name, items) in enumerate(files.items()):
        first = firsts[name]
        shift = start - first if start is not None and first is not None else timedelta(0)
        for item in items:
            article = item.article
            moved = replace(article, id=f"f{number}~{article.id}"[:200],
                            published_at=None if article.published_at is None
                            else article.published_at + shift)
            merged.append(LabelledArticle(
                moved, None if item.cluster is None else f"{number}:{item.cluster}",
                item.story_title))
            origin[moved.id] = name
    ordered = replay_order(merged)
    return ordered, [origin[item.article.id] for item in ordered]
