"""A polite HTTP client: timeouts, a User-Agent naming the product, response
size caps, conditional GET, retries with backoff on 5xx and timeouts, and per
host at most ``per_host`` requests in flight, spaced ``min_interval`` apart.

Standard library only (``urllib``): the feeds module needs nothing an
operator would have to configure, and every byte it parses came through here.
"""

from __future__ import annotations

import functools
import http.client
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import urllib.robotparser
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cluster.feeds.addresses import BlockedAddress, guarded_connection

USER_AGENT = "newsclusters/0.1 (+https://github.com/newsclusters; story clustering feed poller)"
RETRYABLE = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class FetchPolicy:
    """How the client fetches. ``allow_private`` lets every request reach
    private addresses (a closed lab network, or tests on loopback); without
    it only an operator's feed marked private may (``get(..., private=True)``),
    and never a link or redirect taken from feed content."""

    timeout_s: float = 10.0
    max_bytes: int = 5 * 1024 * 1024
    retries: int = 2
    backoff_s: float = 1.0
    per_host: int = 2
    min_interval_s: float = 1.0
    user_agent: str = USER_AGENT
    allow_private: bool = False


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class FetchError(Exception):
    """A request that failed for good (after retries): the reason is the message."""


@dataclass
class _Host:
    gate: threading.Semaphore
    lock: threading.Lock = field(default_factory=threading.Lock)
    last: float = 0.0


class PoliteClient:
    def __init__(self, policy: FetchPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.policy = policy or FetchPolicy()
        self._sleep = sleep
        self._hosts: dict[str, _Host] = {}
        self._hosts_lock = threading.Lock()
        self._robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}
        self._robots_lock = threading.Lock()

    def _host(self, url: str) -> _Host:
        key = (urlsplit(url).netloc or "").lower()
        with self._hosts_lock:
            host = self._hosts.get(key)
            if host is None:
                host = self._hosts[key] = _Host(threading.Semaphore(self.policy.per_host))
            return host

    def get(self, url: str, etag: str | None = None,
            last_modified: str | None = None, private: bool = False,
            robots: bool = False) -> Response:
        """GET with the policy; 304 is a normal answer; other 4xx, addresses
        the request may not reach, and exhausted retries raise FetchError.
        ``private``: the URL is an operator's feed marked as on a private
        network (see ``FetchPolicy``). ``robots``: every redirect must be
        allowed by the robots.txt of the host it leads to."""
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise FetchError(f"only http and https are fetched, not {url[:80]!r}")
        attempt = 0
        while True:
            try:
                return self._get_once(url, etag, last_modified,
                                      private or self.policy.allow_private,
                                      self.allowed if robots else None)
            except _Retryable as exc:
                attempt += 1
                if attempt > self.policy.retries:
                    raise FetchError(f"{exc} (after {attempt} attempts)") from None
                self._sleep(self.policy.backoff_s * 2 ** (attempt - 1))

    def _get_once(self, url: str, etag: str | None, last_modified: str | None,
                  private: bool, permit: Callable[[str], bool] | None) -> Response:
        headers = {"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate",
                   "Accept": "application/rss+xml, application/atom+xml, application/xml, "
                             "text/xml, text/html;q=0.9, */*;q=0.5"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        request = urllib.request.Request(url, headers=headers)
        host = self._host(url)
        with host.gate:
            with host.lock:
                wait = host.last + self.policy.min_interval_s - time.monotonic()
                if wait > 0:
                    self._sleep(wait)
                host.last = time.monotonic()
            try:
                opener = _opener(private, permit)
                with opener.open(request, timeout=self.policy.timeout_s) as answer:
                    body = self._read_capped(answer)
                    return Response(answer.geturl(), answer.status,
                                    _decoded(body, answer.headers.get("Content-Encoding"),
                                             self.policy.max_bytes),
                                    answer.headers.get("ETag"),
                                    answer.headers.get("Last-Modified"),
                                    answer.headers.get("Content-Type", ""))
            except urllib.error.HTTPError as exc:
                if exc.code == 304:
                    return Response(url, 304, b"", etag, last_modified)
                if exc.code in RETRYABLE:
                    raise _Retryable(f"HTTP {exc.code}") from None
                raise FetchError(f"HTTP {exc.code}") from None
            except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, BlockedAddress | FetchError):
                    raise FetchError(str(reason)) from None
                if isinstance(reason, TimeoutError) or isinstance(exc, TimeoutError):
                    raise _Retryable(f"timed out after {self.policy.timeout_s:g} s") from None
                raise _Retryable(f"connection failed: {reason}") from None

    def _read_capped(self, answer: object) -> bytes:
        read = answer.read  # type: ignore[attr-defined]
        body: bytes = read(self.policy.max_bytes + 1)
        if len(body) > self.policy.max_bytes:
            raise FetchError(f"response larger than {self.policy.max_bytes} bytes")
        return body

    def allowed(self, url: str) -> bool:
        """Whether robots.txt lets this product fetch ``url`` (RFC 9309: a missing
        robots.txt allows everything; an unreachable one allows nothing)."""
        parts = urlsplit(url)
        root = f"{parts.scheme}://{parts.netloc}"
        with self._robots_lock:
            known = root in self._robots
            rules = self._robots.get(root)
        if not known:
            rules = self._load_robots(root)
            with self._robots_lock:
                self._robots[root] = rules
        if rules is None:
            return False
        return rules.can_fetch(self.policy.user_agent, url)

    def _load_robots(self, root: str) -> urllib.robotparser.RobotFileParser | None:
        parser = urllib.robotparser.RobotFileParser(root + "/robots.txt")
        try:
            answer = self.get(root + "/robots.txt")
        except FetchError as exc:
            if str(exc).startswith("HTTP 4"):
                parser.parse([])  # no robots.txt: everything allowed
                return parser
            return None
        parser.parse(answer.body.decode("utf-8", errors="replace").splitlines())
        return parser


class _Retryable(Exception):
    pass


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, private: bool) -> None:
        super().__init__()
        self._private = private

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_guarded(http.client.HTTPConnection, self._private), req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, private: bool) -> None:
        super().__init__()
        self._private = private

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_guarded(http.client.HTTPSConnection, self._private), req,
                            context=self._context)  # type: ignore[attr-defined]


def _guarded(kind: type[http.client.HTTPConnection], private: bool) -> Any:
    """A connection class whose sockets go through ``guarded_connection``."""

    def connection(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        made = kind(host, **kwargs)
        made._create_connection = functools.partial(  # type: ignore[attr-defined]
            guarded_connection, allow_private=private)
        return made

    return connection


class _WebOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http and https only (never ftp:, file: or data:),
    and, with ``permit``, only where the new host's robots.txt allows."""

    def __init__(self, permit: Callable[[str], bool] | None = None) -> None:
        super().__init__()
        self._permit = permit

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise FetchError(f"redirect to {newurl[:80]!r} refused: only http and https")
        if self._permit is not None and not self._permit(newurl):
            raise FetchError(f"redirect to {newurl[:80]!r} disallowed by robots.txt")
        return super().redirect_request(req, fp, code, msg, headers, newurl)

    def http_error_302(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                       headers: Any) -> Any:
        target = headers.get("location") or headers.get("uri") or ""
        scheme = urlsplit(urllib.parse.urljoin(req.full_url, target)).scheme.lower()
        if target and scheme not in ("http", "https"):
            raise FetchError(f"redirect to {target[:80]!r} refused: only http and https")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _opener(private: bool, permit: Callable[[str], bool] | None) -> urllib.request.OpenerDirector:
    """An opener with only the handlers the client needs: no ftp, file or data
    handler, and every connection guarded."""
    opener = urllib.request.OpenerDirector()
    for handler in (_GuardedHTTPHandler(private), _GuardedHTTPSHandler(private),
                    _WebOnlyRedirects(permit), urllib.request.HTTPDefaultErrorHandler(),
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def _decoded(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body without its content coding, refusing to inflate past ``limit``
    bytes (a small gzip can unpack to gigabytes)."""
    if not encoding or encoding.lower() not in ("gzip", "deflate"):
        return body
    wbits = 31 if encoding.lower() == "gzip" else 15
    inflater = zlib.decompressobj(wbits)
    try:
        plain = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise FetchError(f"bad {encoding} body: {exc}") from None
    if len(plain) > limit or inflater.unconsumed_tail:
        raise FetchError(f"response inflates past {limit} bytes")
    return plain
