"""Feeds, offline: a local HTTP server on 127.0.0.1 serves fixture feeds (RSS,
Atom, RDF, one malformed, one slow, one that answers 304 to a conditional
GET, one that fails with 500) and fixture article pages; the poller ingests
through a real service (SQLite, FAISS, hashing embedder)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cluster.errors import ConfigurationError
from cluster.feeds.config import FeedConfig, FeedSettings, load_feed_settings
from cluster.feeds.http import FetchPolicy, PoliteClient
from cluster.feeds.parse import normalise_url, parse_feed
from cluster.feeds.poller import FeedPoller, PassReport
from cluster.feeds.state import FeedState
from cluster.service.facade import StoryService
from cluster.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
ROBOTS = b"User-agent: *\nDisallow: /private/\n"


def big_feed(items: int) -> str:
    entries = "".join(
        f"<item><title>Fixture item {n} about topic {n % 37} in region {n % 11}</title>"
        f"<link>http://HOST/big/{n}</link><guid>big-{n}</guid>"
        f"<pubDate>Mon, 23 Nov 2026 {n % 24:02d}:00:00 +0000</pubDate>"
        f"<description>Body of fixture item {n}, topic {n % 37}, region {n % 11}.</description>"
        "</item>" for n in range(items))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>{entries}' \
           "</channel></rss>"


SURROGATE_FEED = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Odd</title>'
    "<item><title>Broken &#xD800; character in a headline</title>"
    "<link>http://HOST/odd/1</link><guid>odd-&#xDFFF;-1</guid>"
    "<description>A body with a lone &#xD83D; surrogate.</description></item>"
    "<item><title>A clean headline from the same feed</title>"
    "<link>http://HOST/odd/2</link><guid>odd-2</guid></item></channel></rss>")


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the slow fixture's client has hung up by design


class FixtureServer:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.extra: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers.items())))
                status, body, headers = server.route(self.path, dict(self.headers.items()))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def fixture(self, name: str) -> bytes:
        return (FIXTURES / name).read_text(encoding="utf-8").replace(
            "http://HOST", self.base).encode()

    def route(self, path: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        xml = {"Content-Type": "application/xml; charset=utf-8"}
        if path in self.extra:
            return 200, self.extra[path], xml
        if path in self.redirects:
            return 302, b"", {"Location": self.redirects[path]}
        if path == "/rss.xml":
            if headers.get("If-None-Match") == '"rss-v1"':
                return 304, b"", {"ETag": '"rss-v1"'}
            return 200, self.fixture("rss.xml"), {**xml, "ETag": '"rss-v1"'}
        if path in ("/atom.xml", "/rdf.xml"):
            return 200, self.fixture(path[1:]), xml
        if path == "/broken.xml":
            return 200, self.fixture("broken.xml"), {"Content-Type": "text/html"}
        if path == "/slow.xml":
            time.sleep(1.5)
            return 200, self.fixture("rss.xml"), xml
        if path == "/error.xml":
            return 500, b"upstream exploded", {"Content-Type": "text/plain"}
        if path == "/surrogate.xml":
            return 200, SURROGATE_FEED.replace("http://HOST", self.base).encode(), xml
        if path == "/big.xml":
            return 200, big_feed(300).replace("http://HOST", self.base).encode(), xml
        if path == "/robots.txt":
            return 200, ROBOTS, {"Content-Type": "text/plain"}
        if path.startswith("/articles/"):
            name = path.split("/")[-1].split("?")[0]
            if (FIXTURES / name).exists():
                return 200, self.fixture(name), {"Content-Type": "text/html; charset=utf-8"}
        if path.startswith("/private/"):
            return 200, b"<html><body><p>Should never be fetched.</p></body></html>", {}
        return 404, b"not found", {"Content-Type": "text/plain"}

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    fixture = FixtureServer()
    yield fixture
    fixture.close()


def feeds_for(server: FixtureServer, *names: str) -> FeedSettings:
    sources = {"rss": ("Harbour Gazette", True), "atom": ("Valley Courier", False),
               "rdf": ("Coastal Bulletin", False), "broken": ("Broken Times", False),
               "slow": ("Slow Post", False), "error": ("Error Daily", False),
               "big": ("Big Feed", False), "surrogate": ("Odd Chars", False)}
    return FeedSettings(feeds=[
        FeedConfig(url=f"{server.base}/{name}.xml", source=sources[name][0],
                   full_text=sources[name][1], lang="en")
        for name in names])


def poller(service: StoryService, settings: Settings, feeds: FeedSettings) -> FeedPoller:
    # the fixtures are on loopback: a lab network, as far as the client is told
    policy = FetchPolicy(timeout_s=0.5, retries=1, backoff_s=0.01, min_interval_s=0.0,
                         per_host=4, allow_private=True)
    state = FeedState(settings.data_dir / "feeds.sqlite3")
    return FeedPoller(service, feeds, state, PoliteClient(policy), workers=4)


def by_source(report: PassReport) -> dict[str, tuple[str, int, int, int]]:
    return {f.source: (f.status, f.new, f.duplicate, f.failed) for f in report.feeds}


ALL = ("rss", "atom", "rdf", "broken", "slow", "error")


def test_one_pass_ingests_good_feeds_and_isolates_broken_ones(
    server: FixtureServer, service: StoryService, settings: Settings
) -> None:
    report = poller(service, settings, feeds_for(server, *ALL)).poll_once()
    found = by_source(report)
    assert found["Harbour Gazette"] == ("ok", 3, 0, 0)
    assert found["Valley Courier"] == ("ok", 2, 0, 0)
    assert found["Coastal Bulletin"] == ("ok", 1, 0, 0)
    assert found["Broken Times"][0].startswith("failed: not a readable feed")
    assert "timed out" in found["Slow Post"][0]
    assert found["Error Daily"][0] == "failed: HTTP 500 (after 2 attempts)"
    assert service.article_count() == 6
    stored = service.store
    with stored.read() as reader:
        urls = {a.url for batch in reader.iter_articles_in_time_order() for a in batch}
    assert f"{server.base}/articles/storm-elin.html?id=7" in urls  # resolved, utm_* dropped
    assert f"{server.base}/courier/rail-suspended" in urls  # fbclid dropped
    assert f"{server.base}/articles/shelters.html" in urls  # fragment dropped


def test_full_text_comes_from_article_pages_and_robots_txt_is_obeyed(
    server: FixtureServer, service: StoryService, settings: Settings
) -> None:
    report = poller(service, settings, feeds_for(server, "rss")).poll_once()
    feed = report.feeds[0]
    assert (feed.pages_fetched, feed.pages_failed, feed.pages_blocked) == (2, 0, 1)
    with service.store.read() as reader:
        articles = {a.title: a for batch in reader.iter_articles_in_time_order() for a in batch}
    storm = articles["Storm Elin floods the old harbour of Portmere"]
    assert "Gusts of up to 140 kilometres an hour" in storm.text  # from the page
    assert "fixture reporter" not in storm.text and "Home" not in storm.text.split()[:3]
    private = articles["Private briefing on harbour wall repairs"]
    assert private.text == "Engineers briefed the council on repairs to the harbour wall."
    assert not any(p.startswith("/private/") for p in server.paths())
    assert all(h.get("User-Agent", "").startswith("newsclusters/") for _, h in server.requests)
    assert storm.published_at is not None


def test_second_pass_uses_conditional_get_and_ingests_nothing_new(
    server: FixtureServer, service: StoryService, settings: Settings
) -> None:
    feeds = feeds_for(server, "rss", "atom")
    first = poller(service, settings, feeds)
    first.poll_once()
    count = service.article_count()
    second = first.poll_once()
    found = by_source(second)
    assert found["Harbour Gazette"] == ("not modified", 0, 0, 0)
    assert found["Valley Courier"] == ("ok", 0, 2, 0)  # no validators: refetched, all seen
    rss_requests = [h for p, h in server.requests if p == "/rss.xml"]
    assert rss_requests[-1].get("If-None-Match") == '"rss-v1"'
    assert service.article_count() == count
    # A restart (new state object on the same file) remembers everything.
    first.state.close()
    restarted = poller(service, settings, feeds).poll_once()
    assert sum(f.new for f in restarted.feeds) == 0 and service.article_count() == count


def test_a_pass_over_hundreds_of_items_reports_its_throughput(
    server: FixtureServer, service: StoryService, settings: Settings
) -> None:
    report = poller(service, settings, feeds_for(server, "big")).poll_once()
    assert by_source(report)["Big Feed"] == ("ok", 300, 0, 0)
    assert "300 items" in report.summary() and "items/s" in report.summary()


def test_urls_are_normalised() -> None:
    assert normalise_url("/a/b?utm_campaign=x&q=1#frag", "HTTP://Example.ORG:80/feed") == \
        "http://example.org/a/b?q=1"
    assert normalise_url("https://example.org:443/x?gclid=1") == "https://example.org/x"
    assert normalise_url("https://example.org:8443/x") == "https://example.org:8443/x"
    assert normalise_url("javascript:alert(1)") is None and normalise_url("  ") is None


def test_feed_dates_are_utc_and_entries_with_nothing_to_read_are_skipped() -> None:
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            b"<item><title>One</title><link>http://x.example/1</link>"
            b"<pubDate>Mon, 23 Nov 2026 11:00:00 +0100</pubDate></item>"
            b"<item><title></title><link>http://x.example/2</link></item>"
            b"<item><title></title><link>http://x.example/3</link>"
            b"<description>Only a body, as some feeds send.</description></item>"
            b"</channel></rss>")
    parsed = parse_feed(body, "http://x.example/feed")
    assert [(i.title, i.text) for i in parsed.items] == [
        ("One", ""), ("", "Only a body, as some feeds send.")]
    item = parsed.items[0]
    assert item.published_at is not None and item.published_at.isoformat() == \
        "2026-11-23T10:00:00+00:00"
    assert item.key == "url:http://x.example/1"


def test_sources_file_is_validated(tmp_path: Path) -> None:
    good = tmp_path / "sources.toml"
    good.write_text('[defaults]\npoll_minutes = 5\n\n[[feeds]]\nurl = "https://a.example/rss"\n'
                    'source = "A"\nfull_text = true\n', encoding="utf-8")
    loaded = load_feed_settings(good)
    assert loaded.poll_seconds(loaded.feeds[0]) == 300 and loaded.full_text(loaded.feeds[0])
    bad = tmp_path / "bad.toml"
    bad.write_text('[[feeds]]\nurl = "ftp://a.example/rss"\nsource = "A"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"feeds\.0\.url"):
        load_feed_settings(bad)
    example = Path(__file__).resolve().parent.parent / "sources.example.toml"
    assert len(load_feed_settings(example).feeds) >= 2


def test_responses_are_capped_even_when_compressed() -> None:
    import gzip

    from cluster.feeds.http import FetchError, _decoded

    bomb = gzip.compress(b"\0" * 2_000_000)
    assert len(bomb) < 10_000
    with pytest.raises(FetchError, match="inflates past"):
        _decoded(bomb, "gzip", 1_000_000)
    assert _decoded(gzip.compress(b"<rss/>"), "gzip", 1_000) == b"<rss/>"


def test_lone_surrogates_in_a_feed_become_replacement_characters(
    server: FixtureServer, service: StoryService, settings: Settings
) -> None:
    report = poller(service, settings, feeds_for(server, "surrogate", "rss")).poll_once()
    found = by_source(report)
    assert found["Odd Chars"] == ("ok", 2, 0, 0) and found["Harbour Gazette"][0] == "ok"
    with service.store.read() as reader:
        titles = {a.title for batch in reader.iter_articles_in_time_order() for a in batch}
    assert "Broken \ufffd character in a headline" in titles


def test_a_feed_that_cannot_be_read_fails_alone_and_the_loop_survives_a_failed_pass(
    server: FixtureServer, service: StoryService, settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cluster.feeds.poller as poller_module

    real_parse = poller_module.parse_feed

    def exploding(body: bytes, url: str) -> object:
        if url.endswith("/atom.xml"):
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return real_parse(body, url)

    monkeypatch.setattr(poller_module, "parse_feed", exploding)
    polling = poller(service, settings, feeds_for(server, "atom", "rss"))
    found = by_source(polling.poll_once())
    assert found["Valley Courier"][0].startswith("failed: could not be read (UnicodeEncodeError")
    assert found["Harbour Gazette"] == ("ok", 3, 0, 0)

    calls = {"n": 0}
    stop = threading.Event()

    def failing_then_stopping(*args: object, **kwargs: object) -> PassReport:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the whole pass broke")
        stop.set()
        return PassReport()

    monkeypatch.setattr(polling, "poll_once", failing_then_stopping)
    monkeypatch.setattr(poller_module, "RETRY_SECONDS", 0.01)
    polling.run_forever(stop)
    assert calls["n"] == 2 and polling.failed_passes == 1 and not polling.running


@pytest.mark.parametrize(("names", "status"), [
    (("rss", "atom"), 0), (("rss", "error", "broken"), 1), (("error", "broken"), 3)])
def test_the_feeds_command_exits_by_outcome_with_one_line_per_failure(
    server: FixtureServer, tmp_path: Path, names: tuple[str, ...], status: int,
) -> None:
    import os
    import subprocess
    import sys

    sources = tmp_path / "sources.toml"
    sources.write_text("".join(f'[[feeds]]\nurl = "{server.base}/{name}.xml"\n'
                               f'source = "Feed {name}"\nprivate_network = true\n'
                               for name in names))
    env = {**os.environ, "NEWSCLUSTERS_DATA_DIR": str(tmp_path / "var"),
           "NEWSCLUSTERS_INDEX_DIR": str(tmp_path / "indexes"),
           "NEWSCLUSTERS_EMBEDDER": "hashing"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("newsclusters")), "feeds", str(sources),
         "--timeout", "2"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300, check=False)
    assert result.returncode == status, result.stdout + result.stderr
    output = result.stdout + result.stderr
    for name in ("error", "broken"):
        if name in names:
            assert sum(f"{name}.xml" in line or f"Feed {name}:" in line
                       for line in output.splitlines()) == 1, output


def test_the_declared_dependencies_cover_full_text_extraction() -> None:
    import tomllib
    from importlib.metadata import requires

    declared = " ".join(requires("newsclusters") or [])
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    for needed in ("trafilatura", "lxml", "lxml_html_clean", "feedparser"):
        assert any(dep.split("==")[0] == needed for dep in project["project"]["dependencies"])
    assert "lxml_html_clean" in declared or "lxml-html-clean" in declared.lower()
    import lxml.html.clean  # what trafilatura needs at import time
    import trafilatura

    assert lxml.html.clean.Cleaner and trafilatura.extract


def test_a_missing_extractor_fails_the_page_not_the_pass(
    server: FixtureServer, service: StoryService, settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_trafilatura(name: str, *args: object, **kwargs: object) -> object:
        if name == "trafilatura":
            raise ImportError("lxml.html.clean module is now a separate project")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_trafilatura)
    found = by_source(poller(service, settings, feeds_for(server, "rss", "atom")).poll_once())
    assert found["Harbour Gazette"][:2] == ("ok", 3) and found["Valley Courier"][0] == "ok"


INTERNAL_LINKS = [  # every spelling of loopback that the fixture server answers on
    "http://127.0.0.1:{port}/private/secret.html",
    "http://localhost:{port}/private/secret.html",
    "http://[::1]:{port}/private/secret.html",
    "http://2130706433:{port}/private/secret.html",
    "http://0x7f000001:{port}/private/secret.html",
    "http://127.1:{port}/private/secret.html",
    "http://[::ffff:127.0.0.1]:{port}/private/secret.html",
]


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "224.0.0.1", "ff02::1",
    "not-an-address"])
def test_only_public_unicast_addresses_count_as_public(address: str) -> None:
    from cluster.feeds.addresses import is_public

    assert not is_public(address)
    assert is_public("93.184.216.34") and is_public("2606:4700:4700::1111")


def test_links_in_feed_content_never_reach_internal_addresses(
    server: FixtureServer, service: StoryService, settings: Settings,
) -> None:
    port = server.base.rsplit(":", 1)[1]
    links = [link.format(port=port) for link in INTERNAL_LINKS]
    entries = "".join(
        f"<item><title>Internal link number {n} in a teaser</title><link>{link}</link>"
        f"<guid>internal-{n}</guid><description>Teaser {n}.</description></item>"
        for n, link in enumerate(links))
    feed = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile</title>'
            f"{entries}</channel></rss>").encode()
    server.extra["/hostile.xml"] = feed
    policy = FetchPolicy(timeout_s=0.5, retries=0, backoff_s=0.01, min_interval_s=0.0)
    feeds = FeedSettings(feeds=[FeedConfig(url=f"{server.base}/hostile.xml", source="Hostile",
                                           full_text=True, private_network=True)])
    polling = FeedPoller(service, feeds, FeedState(settings.data_dir / "feeds.sqlite3"),
                         PoliteClient(policy), workers=1)
    found = polling.poll_once().feeds[0]
    assert found.status == "ok" and found.new == len(links)
    assert found.pages_fetched == 0
    assert not [p for p in server.paths() if p.startswith(("/private/", "/robots.txt"))]
    with service.store.read() as reader:
        texts = {a.text for batch in reader.iter_articles_in_time_order() for a in batch}
    assert not any("Should never be fetched" in text for text in texts)


def test_an_operators_feed_on_a_private_network_needs_saying_so(
    server: FixtureServer, service: StoryService, settings: Settings,
) -> None:
    policy = FetchPolicy(timeout_s=0.5, retries=0, backoff_s=0.01, min_interval_s=0.0)
    state = FeedState(settings.data_dir / "feeds.sqlite3")
    unmarked = FeedSettings(feeds=[FeedConfig(url=f"{server.base}/atom.xml", source="Intranet")])
    report = FeedPoller(service, unmarked, state, PoliteClient(policy)).poll_once().feeds[0]
    assert report.status.startswith("failed:") and "not a public address" in report.status
    assert "/atom.xml" not in server.paths()
    marked = FeedSettings(feeds=[FeedConfig(url=f"{server.base}/atom.xml", source="Intranet",
                                            private_network=True)])
    assert FeedPoller(service, marked, state, PoliteClient(policy)).poll_once(
    ).feeds[0].status == "ok"


def test_redirects_are_checked_on_every_hop_and_only_to_web_addresses(
    server: FixtureServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cluster.feeds.addresses as addresses
    from cluster.feeds.http import FetchError

    port = server.base.rsplit(":", 1)[1]
    server.redirects["/to-ftp"] = "ftp://127.0.0.1/etc/passwd"
    server.redirects["/to-file"] = "file:///etc/passwd"
    server.redirects["/to-internal"] = f"http://127.0.0.2:{port}/private/secret.html"
    # 127.0.0.1 plays a public host here; 127.0.0.2 stays what it is, internal
    monkeypatch.setattr(addresses, "is_public", lambda ip: ip == "127.0.0.1")
    client = PoliteClient(FetchPolicy(timeout_s=0.5, retries=0, min_interval_s=0.0))
    for path, reason in (("/to-ftp", "only http and https"), ("/to-file", "only http and https"),
                         ("/to-internal", r"127\.0\.0\.2, not a public address")):
        with pytest.raises(FetchError, match=reason):
            client.get(f"{server.base}{path}")
    with pytest.raises(FetchError, match="only http and https"):
        client.get("file:///etc/passwd")
    assert client.get(f"{server.base}/atom.xml").status == 200  # the "public" host itself


def test_the_address_checked_is_the_address_connected_to(
    server: FixtureServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    from cluster.feeds.http import FetchError

    port = int(server.base.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])  # public, then rebound

    def rebinding(host: str, *args: object, **kwargs: object) -> object:
        if host == "rebind.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    client = PoliteClient(FetchPolicy(timeout_s=0.3, retries=0, min_interval_s=0.0))
    next(answers)  # a check that resolved once would have passed on this answer
    with pytest.raises(FetchError, match=r"127\.0\.0\.1, not a public address"):
        client.get(f"http://rebind.example:{port}/private/secret.html")
    assert "/private/secret.html" not in server.paths()


def test_ipv6_links_keep_their_brackets() -> None:
    assert normalise_url("http://[::1]:8080/a?utm_source=x") == "http://[::1]:8080/a"
    assert normalise_url("https://[2001:DB8::1]/story") == "https://[2001:db8::1]/story"
    assert normalise_url("http://[::1/") is None and normalise_url("http://a:99999/") is None


def test_a_redirect_is_followed_only_where_its_hosts_robots_txt_allows(
    server: FixtureServer, service: StoryService, settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = server.base.rsplit(":", 1)[1]
    # an allowed page on one host that redirects into another host's /private/
    server.redirects["/articles/moved.html"] = f"http://localhost:{port}/private/secret.html"
    server.extra["/teaser.xml"] = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        f"<item><title>A teaser whose page moved away</title>"
        f"<link>{server.base}/articles/moved.html</link><guid>moved-1</guid>"
        "<description>Short teaser.</description></item></channel></rss>").encode()
    feeds = FeedSettings(feeds=[FeedConfig(url=f"{server.base}/teaser.xml", source="Teasers",
                                           full_text=True)])
    found = poller(service, settings, feeds).poll_once().feeds[0]
    assert found.status == "ok" and found.pages_blocked == 1 and found.pages_fetched == 0
    assert "/private/secret.html" not in server.paths()


def test_metrics_show_whether_the_feed_poller_runs(
    service: StoryService, settings: Settings,
) -> None:
    from api import create_app
    from api.observability import FEED_POLLER

    app = create_app(service=service)
    polling = FeedPoller(service, FeedSettings(), FeedState(settings.data_dir / "f.sqlite3"))
    app.extensions[FEED_POLLER] = polling
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert "newsclusters_feed_poller_running 0" in text
    polling.running, polling.failed_passes = True, 2
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert "newsclusters_feed_poller_running 1" in text
    assert "newsclusters_feed_poller_failed_passes_total 2" in text
