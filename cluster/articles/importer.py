"""Importing labelled-format JSONL files through the service's ingest path.

Articles from all files are replayed in time order (ties by id) in batches;
each batch is one transaction, so an interrupted import keeps every finished
batch and a re-run skips what is already stored (unchanged re-posts are
no-ops and are not re-embedded)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cluster.articles.incoming import Article, TextLimits
from cluster.articles.jsonl import LabelledArticle, read_labelled
from cluster.service.batch_preparation import PreparedBatch
from cluster.service.facade import StoryService


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


def batches_of(items: Sequence[LabelledArticle], batch_size: int) -> list[list[Article]]:
    """Consecutive batches of at most ``batch_size``; a batch also ends before an
    id it already holds, so a later line with that id updates the first."""
    batches: list[list[Article]] = [[]]
    seen: set[str] = set()
    for item in items:
        if item.article.id in seen or len(batches[-1]) >= batch_size:
            batches.append([])
            seen.clear()
        batches[-1].append(item.article)
        seen.add(item.article.id)
    return [batch for batch in batches if batch]


def import_articles(
    service: StoryService, items: Sequence[LabelledArticle], batch_size: int = 64,
    progress: Callable[[int], None] | None = None, prefetch: bool = True,
) -> ImportReport:
    """Ingest ``items`` batch by batch. With ``prefetch``, the next batch is
    embedded in a second thread while this one is written: the model's
    arithmetic releases the GIL, so the second core that the single-threaded
    write path leaves idle embeds meanwhile. The stories are the same either
    way (the write re-checks what the prefetch saw)."""
    report = ImportReport(read=len(items))
    batches = batches_of(items, batch_size)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare") if prefetch else None
    try:
        ahead: Future[PreparedBatch] | None = None
        for position, batch in enumerate(batches):
            prepared = ahead.result() if ahead is not None else service.prepare(batch)
            ahead = None
            if pool is not None and position + 1 < len(batches):
                ahead = pool.submit(service.prepare, batches[position + 1])
            for result in service.ingest_prepared(prepared):
                setattr(report, result.status, getattr(report, result.status) + 1)
                report.new_stories += int(result.new_story)
            if progress:
                progress(len(batch))
    finally:
        if pool is not None:
            # an interrupted import waits for at most the one batch being embedded
            pool.shutdown(wait=True, cancel_futures=True)
    return report
