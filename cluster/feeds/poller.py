"""Polling feeds into the story service.

Workers fetch and parse feeds (and, where configured, article pages) in
parallel under the polite client's per-host limits; the calling thread
ingests what they found through ``StoryService.ingest``, the same path as the
API, and only then records the entries as seen, so an interrupted pass
re-fetches rather than loses. One broken feed or page is reported and
skipped; the others go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from cluster.articles.incoming import ArticleIn, TextLimits, derive_article_id, to_article
from cluster.errors import ClusterError
from cluster.feeds.config import FeedConfig, FeedSettings
from cluster.feeds.http import FetchError, PoliteClient
from cluster.feeds.parse import FeedItem, parse_feed
from cluster.feeds.state import FeedState
from cluster.service.facade import StoryService

log = logging.getLogger(__name__)
RETRY_SECONDS = 30.0
"""Pause after a polling pass that failed as a whole."""

TEASER_CHARS = 600
"""A feed text shorter than this is a teaser: fetch the page when the feed asks for it."""


@dataclass
class FeedReport:
    source: str
    url: str
    status: str = "ok"
    new: int = 0
    duplicate: int = 0
    failed: int = 0
    pages_fetched: int = 0
    pages_failed: int = 0
    pages_blocked: int = 0
    """Pages robots.txt does not let this product fetch (the feed's text is kept)."""
    seconds: float = 0.0

    def line(self) -> str:
        pages = (f", pages {self.pages_fetched} fetched / {self.pages_failed} failed / "
                 f"{self.pages_blocked} disallowed by robots.txt"
                 if self.pages_fetched or self.pages_failed or self.pages_blocked else "")
        return (f"{self.source}: new {self.new}, duplicate {self.duplicate}, "
                f"failed {self.failed}{pages} [{self.status}] ({self.seconds:.2f} s)")


@dataclass
class PassReport:
    feeds: list[FeedReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def items(self) -> int:
        return sum(f.new + f.duplicate + f.failed for f in self.feeds)

    @property
    def broken_feeds(self) -> int:
        """Feeds that could not be fetched, read or ingested."""
        return sum(1 for f in self.feeds if f.status not in ("ok", "not modified"))

    def exit_status(self) -> int:
        """0 when every feed was read and every entry ingested, 3 when no feed
        could be read, 1 otherwise (some feeds or entries failed)."""
        if self.feeds and self.broken_feeds == len(self.feeds):
            return 3
        failed_entries = sum(f.failed for f in self.feeds)
        return 1 if self.broken_feeds or failed_entries else 0

    def summary(self) -> str:
        new = sum(f.new for f in self.feeds)
        duplicate = sum(f.duplicate for f in self.feeds)
        failed = sum(f.failed for f in self.feeds)
        broken = self.broken_feeds
        rate = self.items / self.seconds if self.seconds > 0 else 0.0
        return (f"{len(self.feeds)} feeds ({broken} failed): new {new}, duplicate {duplicate}, "
                f"failed {failed}; {self.items} items in {self.seconds:.2f} s "
                f"({rate:.0f} items/s)")


@dataclass
class _Fetched:
    feed: FeedConfig
    report: FeedReport
    items: list[tuple[FeedItem, str]]
    """New entries with the text to ingest."""
    etag: str | None = None
    last_modified: str | None = None


class FeedPoller:
    def __init__(self, service: StoryService, feeds: FeedSettings, state: FeedState,
                 client: PoliteClient | None = None, workers: int = 4) -> None:
        self.service = service
        self.feeds = feeds
        self.state = state
        self.client = client or PoliteClient()
        self.workers = workers
        self.running = False
        self.failed_passes = 0

    # -- one pass --------------------------------------------------------------
    def poll_once(self, only_due: bool = False,
                  progress: Callable[[FeedReport], None] | None = None) -> PassReport:
        started = time.perf_counter()
        report = PassReport()
        feeds = [f for f in self.feeds.feeds if not only_due or self._due(f) <= 0]
        with ThreadPoolExecutor(max_workers=max(1, self.workers),
                                thread_name_prefix="feed") as pool:
            futures = [pool.submit(self._fetch, feed) for feed in feeds]
            for future in as_completed(futures):
                fetched = future.result()
                try:
                    self._ingest(fetched)
                except Exception as exc:  # this feed's entries fail; the pass goes on
                    log.exception("feed %s: entries not ingested", fetched.feed.url)
                    fetched.report.status = f"failed: not ingested ({type(exc).__name__})"
                    self.state.record_poll(fetched.feed.url, fetched.report.status, ok=False)
                report.feeds.append(fetched.report)
                if progress:
                    progress(fetched.report)
        report.seconds = time.perf_counter() - started
        return report

    def _due(self, feed: FeedConfig) -> float:
        """Seconds until the feed is due (≤ 0: now)."""
        last = self.state.feed(feed.url).last_poll
        return 0.0 if last is None else last + self.feeds.poll_seconds(feed) - time.time()

    def _fetch(self, feed: FeedConfig) -> _Fetched:
        started = time.perf_counter()
        report = FeedReport(feed.source, feed.url)
        fetched = _Fetched(feed, report, [])
        record = self.state.feed(feed.url)
        try:
            answer = self.client.get(feed.url, record.etag, record.last_modified,
                                     private=feed.private_network)
        except FetchError as exc:
            report.status = f"failed: {exc}"
            log.debug("feed %s: %s", feed.url, exc)  # the report's line says it
            self.state.record_poll(feed.url, report.status, ok=False)
            report.seconds = time.perf_counter() - started
            return fetched
        fetched.etag, fetched.last_modified = answer.etag, answer.last_modified
        if answer.not_modified:
            report.status = "not modified"
            self.state.record_poll(feed.url, report.status, ok=True)
            report.seconds = time.perf_counter() - started
            return fetched
        try:
            return self._read(feed, fetched, answer.body, answer.url, started)
        except Exception as exc:  # a feed no one foresaw: fail it, the others go on
            log.exception("feed %s: could not be read", feed.url)
            report.status = f"failed: could not be read ({type(exc).__name__}: {exc})"[:300]
            fetched.items.clear()
            self.state.record_poll(feed.url, report.status, ok=False)
            report.seconds = time.perf_counter() - started
            return fetched

    def _read(self, feed: FeedConfig, fetched: _Fetched, body: bytes, url: str,
              started: float) -> _Fetched:
        """Parse a fetched feed and collect its unseen entries (with page text)."""
        report = fetched.report
        parsed = parse_feed(body, url)
        if parsed.problem is not None:
            report.status = f"failed: {parsed.problem}"
            log.debug("feed %s: %s", feed.url, parsed.problem)  # the report's line says it
            self.state.record_poll(feed.url, report.status, ok=False)
            report.seconds = time.perf_counter() - started
            return fetched
        fresh = self.state.unseen(k for item in parsed.items for k in _keys(item))
        taken: set[str] = set()
        for item in parsed.items:
            keys = _keys(item)
            if not all(k in fresh for k in keys) or taken.intersection(keys):
                report.duplicate += 1
                continue
            taken.update(keys)
            fetched.items.append((item, self._text(feed, item, report)))
        report.seconds = time.perf_counter() - started
        return fetched

    def _text(self, feed: FeedConfig, item: FeedItem, report: FeedReport) -> str:
        """The feed's text, or the article page's main text when the feed only
        has a teaser and full text is wanted (robots.txt permitting)."""
        if (not self.feeds.full_text(feed) or item.url is None
                or len(item.text) >= TEASER_CHARS):
            return item.text
        if not self.client.allowed(item.url):
            report.pages_blocked += 1
            log.info("page %s: disallowed by robots.txt", item.url)
            return item.text
        try:
            # a link from feed content: public addresses only, and each redirect
            # only where the robots.txt of the host it leads to allows
            page = self.client.get(item.url, robots=True)
        except FetchError as exc:
            if "robots.txt" in str(exc):
                report.pages_blocked += 1
                log.info("page %s: %s", item.url, exc)
            else:
                report.pages_failed += 1
                log.warning("page %s: %s", item.url, exc)
            return item.text
        try:
            import trafilatura

            extracted = trafilatura.extract(page.body.decode("utf-8", errors="replace"),
                                            url=item.url, include_comments=False,
                                            include_tables=False, favor_precision=True)
        except ImportError as exc:  # a broken install: this page fails, not the pass
            report.pages_failed += 1
            log.error("page %s: the full-text extractor cannot be loaded (%s); the feed's "
                      "own text is used. Reinstall the package's dependencies.", item.url, exc)
            return item.text
        if not extracted or len(extracted) <= len(item.text):
            report.pages_failed += 1
            return item.text
        report.pages_fetched += 1
        return str(extracted)

    def _ingest(self, fetched: _Fetched) -> None:
        report, feed = fetched.report, fetched.feed
        settings = self.service.settings
        limits = TextLimits.of(settings)
        articles = []
        keys: list[tuple[list[str], str]] = []
        lost = False
        for item, text in fetched.items:
            article_id = derive_article_id(item.title, text, feed.source, item.url)
            try:
                incoming = ArticleIn.model_validate({
                    "id": article_id, "title": item.title[:settings.max_title_chars],
                    "text": text[:settings.max_text_chars], "source": feed.source,
                    "url": item.url, "lang": self.feeds.lang(feed),
                    "published_at": item.published_at.isoformat() if item.published_at else None,
                }, context={"limits": limits})
            except ValidationError as exc:
                report.failed += 1
                log.warning("feed %s: entry %s skipped: %s", feed.url, item.key,
                            exc.errors()[0]["msg"])
                continue
            articles.append(to_article(incoming, received_at=datetime.now(UTC)))
            keys.append((_keys(item), article_id))
        for start in range(0, len(articles), settings.max_batch):
            batch = articles[start:start + settings.max_batch]
            try:
                results = self.service.ingest(batch)
            except ClusterError as exc:
                report.failed += len(batch)
                lost = True
                log.warning("feed %s: a batch was not ingested: %s", feed.url, exc)
                continue
            report.new += sum(r.status != "unchanged" for r in results)
            report.duplicate += sum(r.status == "unchanged" for r in results)
            done = keys[start:start + len(batch)]
            self.state.mark_seen(feed.url, [(k, article_id) for item_keys, article_id in done
                                            for k in item_keys])
        if report.status == "ok":
            # Validators only once everything is stored: a 304 next time must not
            # hide entries that a failed batch left out.
            self.state.record_poll(feed.url, "ok" if not lost else "ingest failed", ok=not lost,
                                   etag=None if lost else fetched.etag,
                                   last_modified=None if lost else fetched.last_modified)

    # -- daemon ----------------------------------------------------------------
    def run_forever(self, stop: threading.Event,
                    progress: Callable[[FeedReport], None] | None = None,
                    passes: Callable[[PassReport], None] | None = None) -> None:
        """Poll each feed when it is due, until ``stop`` is set. A pass that
        fails as a whole is logged, counted (``failed_passes``) and tried
        again after a pause; ``running`` says whether the loop still runs."""
        self.running = True
        try:
            while not stop.is_set():
                try:
                    report = self.poll_once(only_due=True, progress=progress)
                except Exception:
                    self.failed_passes += 1
                    log.exception("feeds: a polling pass failed; trying again in %.0f s",
                                  RETRY_SECONDS)
                    stop.wait(RETRY_SECONDS)
                    continue
                if report.feeds and passes:
                    passes(report)
                waits = [self._due(feed) for feed in self.feeds.feeds]
                stop.wait(min(max(min(waits, default=60.0), 1.0), 60.0))
        finally:
            self.running = False


def _keys(item: FeedItem) -> list[str]:
    keys = [item.key]
    if item.url and f"url:{item.url}" != item.key:
        keys.append(f"url:{item.url}")
    return keys


def iter_lines(report: PassReport) -> Iterator[str]:
    for feed in report.feeds:
        yield feed.line()
    yield report.summary()
