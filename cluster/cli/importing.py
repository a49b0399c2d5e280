"""``newsclusters ingest`` (JSONL files) and ``newsclusters feeds`` (RSS/Atom)."""

from __future__ import annotations

import argparse
import signal
import threading

from cluster.cli.common import Commands, add_command, bar_progress, progress_bar, readable_file

STORE_SETTINGS = ("data_dir", "index_dir", "embedder", "max_batch", "max_title_chars",
                  "max_text_chars")


def register(commands: Commands) -> None:
    parser = add_command(
        commands, "ingest", ingest_files, "import articles from JSONL files",
        """
        Import articles from JSON Lines files in the labelled-data format: one
        object per line with "title" (required), "text", "date" (ISO 8601),
        "source", "url", "id" and "lang"; other fields are ignored. Articles
        of all files are ingested in time order, each batch in one
        transaction, so an interrupted import keeps every finished batch and
        running it again skips what is stored. A line that cannot be read
        stops the import before anything is written, naming file, line and
        field. Stories are presented (headline, label, summary) once at the
        end, and an index snapshot is written.
        """, STORE_SETTINGS)
    parser.add_argument("files", nargs="+", type=readable_file, metavar="FILE.jsonl",
                        help="The files to import.")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N",
                        help="Articles per transaction (default 64; at most max_batch).")
    parser.add_argument("--if-empty", action="store_true",
                        help="Import only when the store holds no article yet (for "
                             "set-up scripts that may run twice).")
    parser = add_command(
        commands, "feeds", poll_feeds, "poll RSS/Atom/RDF feeds into the store",
        """
        Poll the feeds listed in a sources TOML file and ingest their
        articles through the same path as the API. Per-feed state
        (validators for conditional GET, last poll, errors, entries already
        seen) lives in <data_dir>/feeds.sqlite3, so a restart neither
        re-ingests nor re-downloads unchanged feeds. Without --loop, one pass
        over every feed; with it, each feed is polled when due until Ctrl-C
        or SIGTERM, which stop after the feed being ingested. One line per
        feed says what it gave or why it failed.

        Exit status of one pass: 0 when every feed was read and every entry
        ingested, 1 when some feeds or entries failed, 3 when no feed could
        be read, 2 when nothing was polled (a bad sources file or setting, or
        a store that another process writes). With --loop: 0 once stopped.
        """, STORE_SETTINGS)
    parser.add_argument("sources", type=readable_file, metavar="SOURCES.toml",
                       help="The sources file (see sources.example.toml).")
    parser.add_argument("--loop", action="store_true", help="Keep polling until stopped.")
    parser.add_argument("--workers", type=int, default=4, metavar="N",
                       help="Feeds fetched in parallel (default 4).")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                       help="Seconds to wait for each request (default 10).")


def ingest_files(args: argparse.Namespace) -> int:
    from cluster.articles.importer import import_articles, read_files
    from cluster.articles.incoming import TextLimits
    from cluster.service import StoryService
    from cluster.settings import load_settings

    settings = load_settings()
    # A bulk import presents each changed story once, at the end, not after every batch.
    with StoryService(settings, present_per_batch=False) as service:
        if args.if_empty and service.article_count() > 0:
            print(f"store already holds {service.article_count()} articles; nothing imported")
            return 0
        items = read_files(args.files, TextLimits.of(settings))
        with progress_bar("ingest") as bar:
            bar.total = len(items)
            report = import_articles(service, items, args.batch_size, bar.update)
        with progress_bar("present", "story") as bar:
            service.refresh_presentations(bar_progress(bar))
        service.snapshot()
        print(f"read {report.read}: created {report.created}, updated {report.updated}, "
              f"unchanged {report.unchanged}; {report.new_stories} new stories; "
              f"store holds {service.article_count()} articles")
    return 0


def poll_feeds(args: argparse.Namespace) -> int:
    from cluster.feeds.config import load_feed_settings
    from cluster.feeds.http import FetchPolicy, PoliteClient
    from cluster.feeds.poller import FeedPoller, FeedReport, PassReport
    from cluster.feeds.state import FeedState
    from cluster.service import StoryService
    from cluster.settings import load_settings

    feeds = load_feed_settings(args.sources)
    settings = load_settings()
    with StoryService(settings) as service:
        state = FeedState(settings.data_dir / "feeds.sqlite3")
        client = PoliteClient(FetchPolicy(timeout_s=args.timeout))
        poller = FeedPoller(service, feeds, state, client, workers=args.workers)

        def show(report: FeedReport) -> None:
            print(report.line(), flush=True)

        def summary(report: PassReport) -> None:
            print(report.summary(), flush=True)

        try:
            if args.loop:
                stop = threading.Event()
                signal.signal(signal.SIGTERM, lambda *_: stop.set())
                print(f"polling {len(feeds.feeds)} feeds; Ctrl-C or SIGTERM stops", flush=True)
                try:
                    poller.run_forever(stop, show, summary)
                except KeyboardInterrupt:
                    stop.set()
            else:
                report = poller.poll_once(progress=show)
                summary(report)
                return report.exit_status()
        finally:
            service.snapshot()
            state.close()
    return 0
