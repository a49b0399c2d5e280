#!/usr/bin/env python3
"""Import articles from labelled-format JSONL files (DESIGN §6) into the store.

Resumable: re-running skips what is stored; Ctrl-C keeps finished batches.

    python scripts/ingest.py FILE.jsonl [FILE ...] [--batch-size 64] [--if-empty]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts._common import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--if-empty", action="store_true",
                        help="import only when the store holds no article yet")
    args = parser.parse_args()

    from tqdm import tqdm

    from cluster.articles.importer import import_articles, read_files
    from cluster.articles.incoming import TextLimits
    from cluster.service.facade import StoryService
    from cluster.settings import load_settings

    settings = load_settings()
    # A bulk import presents each changed story once, at the end, not after every batch.
    service = StoryService(settings, present_per_batch=False).open()
    try:
        if args.if_empty and service.article_count() > 0:
            print(f"store already holds {service.article_count()} articles; nothing imported")
            return
        items = read_files(args.files, TextLimits(settings.max_title_chars,
                                                  settings.max_text_chars))
        with tqdm(total=len(items), unit="article", desc="ingest") as bar:
            report = import_articles(service, items, args.batch_size, bar.update)
        with tqdm(unit="story", desc="present") as bar:
            def presented(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            service.refresh_presentations(presented)
        service.snapshot()
        print(f"read {report.read}: created {report.created}, updated {report.updated}, "
              f"unchanged {report.unchanged}; {report.new_stories} new stories; "
              f"store holds {service.article_count()} articles")
    finally:
        service.close()


if __name__ == "__main__":
    run(main)
