"""Keeping storyline ids over a re-cluster, as story ids are kept
(``cluster/clustering/story_ids.py``): each new storyline takes the id of the
old one it shares most articles with, one to one; an old id that no new
storyline took answers with the storyline holding most of its articles."""

from __future__ import annotations

from dataclasses import dataclass

from cluster.clustering.story_ids import match_story_ids, vanished_story_targets
from cluster.store import Reader, Writer
from cluster.types import StoryId, StorylineId


@dataclass(frozen=True)
class StorylinesBefore:
    """The storylines as a re-cluster found them."""

    of_article: dict[str, StorylineId]
    """Each article's storyline (articles of stories without one left out)."""
    merged: list[tuple[StorylineId, StorylineId]]
    """Storylines that answered with another already: (id, merged into)."""
    shown: set[StorylineId]
    """Storylines of two or more stories: the ones readers could see."""


def storylines_of_articles(reader: Reader,
                           lines: dict[StoryId, StorylineId] | None = None,
                           ) -> dict[str, StorylineId]:
    """Each article's storyline (``lines``: each story's, if already read)."""
    lines = reader.story_storylines() if lines is None else lines
    return {article: lines[story] for article, story in reader.assignments().items()
            if story in lines}


def storylines_before(reader: Reader) -> StorylinesBefore:
    lines = reader.story_storylines()
    counts: dict[StorylineId, int] = {}
    for line in lines.values():
        counts[line] = counts.get(line, 0) + 1
    merged = [(row_id, into) for row_id in sorted(set(_merged_ids(reader)))
              if (row := reader.storyline(row_id)) is not None
              and (into := row.merged_into) is not None]
    return StorylinesBefore(storylines_of_articles(reader, lines), merged,
                            {line for line, n in counts.items() if n >= 2})


def _merged_ids(reader: Reader) -> list[StorylineId]:
    return [row.id for row in reader.list_storylines(("merged",), 1_000_000, None,
                                                     min_stories=0)]


def keep_storyline_ids(writer: Writer, before: StorylinesBefore,
                       now: float | None) -> tuple[int, int]:
    """Give the re-clustered storylines their old ids; old ids left over answer
    with the storyline holding most of their articles. Returns (storylines
    readers saw before that are still there under the same id, how many
    there were)."""
    writer.rename_storylines(match_story_ids(storylines_of_articles(writer),
                                             before.of_article))
    targets = vanished_story_targets(storylines_of_articles(writer), before.of_article)
    for old_id, target in before.merged:
        targets.setdefault(old_id, target)
    for old_id, target in sorted(targets.items()):
        if writer.storyline(old_id) is None:
            writer.create_storyline(now, old_id)
            writer.retire_storyline(old_id, target)
    kept = sum(1 for line in before.shown
               if (row := writer.storyline(line)) is not None
               and row.status != "merged" and row.story_count >= 2)
    return kept, len(before.shown)
