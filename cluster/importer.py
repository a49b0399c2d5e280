"""Importing labelled-format JSONL files through the service's ingest path.

Articles from all files are replayed in time order (ties by id) in batches;
each batch is one transaction, so an interrupted import keeps every finished
batch and a re-run skips what is already stored (unchanged re-posts are
no-ops and are not re-embedded)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cluster.articles import TextLimits
from cluster.jsonl import LabelledArticle, read_labelled
from cluster.service import StoryService


@dataclass
class ImportReport:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    new_stories: int = 0


def read_files(paths: Sequence[Path], limits: TextLimits | None = None) -> list[LabelledArticle]:
    items = [item for path in paths for item in read_labelled(path, limits)]
    return sorted(items, key=lambda i: (i.article.timestamp is None, i.article.timestamp or 0.0,
                                        i.article.id))


def import_articles(
    service: StoryService, items: Sequence[LabelledArticle], batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    report = ImportReport(read=len(items))
    seen: set[str] = set()
    batch: list[LabelledArticle] = []

    def flush() -> None:
        results = service.ingest([i.article for i in batch])
        for result in results:
            setattr(report, result.status, getattr(report, result.status) + 1)
            report.new_stories += int(result.new_story)
        if progress:
            progress(len(batch))
        batch.clear()
        seen.clear()

    for item in items:
        if item.article.id in seen:  # a later line with the same id updates it
            flush()
        batch.append(item)
        seen.add(item.article.id)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return report
