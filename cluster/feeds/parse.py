"""Feed entries to article candidates: feedparser over bytes we fetched,
links resolved and cleaned of tracking parameters, dates in UTC, HTML to text."""

from __future__ import annotations

import calendar
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

TRACKING_PARAMETERS = frozenset({
    "fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid", "_ga",
    "ocid", "cmpid", "cmp", "spm", "ref", "ref_src", "src", "smid", "sh", "guccounter",
})
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


_SURROGATES = re.compile("[\ud800-\udfff]")
_CHARACTER_REFERENCE = re.compile(rb"&#([xX][0-9a-fA-F]{1,8}|[0-9]{1,10});")

def normalise_url(link: str, base: str | None = None) -> str | None:
    """Absolute http(s) URL, lower-case scheme and host, no default port, no
    fragment, no tracking parameters (utm_* and the usual click ids); None if
    the link is not a web address."""
    if not link or not link.strip():
        return None
    try:
        absolute = urljoin(base or "", link.strip())
        parts = urlsplit(absolute)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
        port = parts.port
    except ValueError:  # a port out of range, a bracket left open
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address keeps its brackets
    if port and not ((parts.scheme == "http" and port == 80)
                     or (parts.scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not k.lower().startswith("utm_") and k.lower() not in TRACKING_PARAMETERS]
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", urlencode(query), ""))


def html_to_text(markup: str) -> str:
    """Visible text of a feed's HTML snippet, whitespace collapsed."""
    if "<" not in markup and "&" not in markup:
        return _SPACE.sub(" ", markup).strip()
    try:
        import lxml.html

        text = lxml.html.fromstring(f"<div>{markup}</div>").text_content()
    except Exception:  # malformed markup: fall back to stripping tags
        text = _TAGS.sub(" ", markup)
    return _SPACE.sub(" ", html.unescape(text)).strip()


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed, normalised."""

    key: str
    """The dedupe key: the entry's GUID if it has one, else its canonical URL."""
    title: str
    text: str
    url: str | None
    published_at: datetime | None


@dataclass(frozen=True)
class ParsedFeed:
    items: list[FeedItem]
    problem: str | None
    """Why the document was not (fully) readable as a feed, if it was not."""


def _when(entry: Any) -> datetime | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(name)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _valid_text(value: str) -> str:
    """Feed text with every lone surrogate (a numeric character reference
    such as &#xD800; decodes to one) replaced by U+FFFD: it is no character,
    and neither the store nor JSON can hold it."""
    return _SURROGATES.sub("\ufffd", value) if isinstance(value, str) else ""


def _without_surrogate_references(body: bytes) -> bytes:
    """Character references to a lone surrogate (&#xD800; or &#55296;) made
    U+FFFD: feedparser fails on them, and they name no character."""

    def replace(match: re.Match[bytes]) -> bytes:
        digits = match.group(1)
        code = int(digits[1:], 16) if digits[:1] in (b"x", b"X") else int(digits)
        return b"&#xFFFD;" if 0xD800 <= code <= 0xDFFF else match.group(0)

    return _CHARACTER_REFERENCE.sub(replace, body)


def parse_feed(body: bytes, feed_url: str) -> ParsedFeed:
    """RSS 2.0, Atom and RDF via feedparser, given the bytes we fetched (feedparser
    never touches the network here)."""
    import feedparser

    parsed = feedparser.parse(_without_surrogate_references(body),
                              response_headers={"content-location": feed_url})
    problem = None
    if parsed.get("bozo") and not parsed.entries:
        problem = f"not a readable feed ({type(parsed.get('bozo_exception')).__name__})"
    base = parsed.feed.get("link") or feed_url
    items: list[FeedItem] = []
    for entry in parsed.entries:
        title = _valid_text(html_to_text(entry.get("title", "")))
        raw_link = _valid_text(entry.get("link", "") or "")
        link = normalise_url(raw_link, feed_url) or normalise_url(raw_link, base)
        contents = entry.get("content") or []
        body_html = contents[0].get("value", "") if contents else entry.get("summary", "")
        text = _valid_text(html_to_text(body_html or ""))
        if not title and not text:
            continue  # nothing to read: an entry needs a title or some text
        guid = _valid_text(entry.get("id") or "").strip()
        key = f"guid:{guid}" if guid else (
            f"url:{link}" if link else f"title:{title or text[:200]}")
        items.append(FeedItem(key, title, text, link, _when(entry)))
    return ParsedFeed(items, problem)
