"""What an article is on the way in: validation, normalisation, derived ids.

One model (`ArticleIn`) validates articles from every source (HTTP, JSONL,
feeds), so every path accepts and rejects the same things. Limits that are
settings (title/text length) arrive through pydantic's validation context.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from cluster.types import ArticleId

if TYPE_CHECKING:
    from cluster.settings import Settings

ARTICLE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:~@-]{0,199}$"
_ARTICLE_ID_RE = re.compile(ARTICLE_ID_PATTERN)
# Control characters other than tab/newline/carriage return carry no meaning in
# news text and break terminals and JSON consumers downstream.
FUTURE_TOLERANCE = timedelta(days=1)
"""Clock skew and time zones allowed for; a date further ahead is a mistake."""
EARLIEST_YEAR = 1900
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A lone UTF-16 surrogate (JSON's "\ud800") is not a character: it cannot be
# stored as UTF-8 or sent back as valid JSON.
_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class TextLimits:
    max_title_chars: int = 1000
    max_text_chars: int = 200_000

    @classmethod
    def of(cls, settings: Settings) -> TextLimits:
        """The limits the settings configure."""
        return cls(settings.max_title_chars, settings.max_text_chars)


def is_valid_article_id(value: str) -> bool:
    return bool(_ARTICLE_ID_RE.match(value))


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 to an aware UTC datetime; a naive time is taken as UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class ArticleIn(BaseModel):
    """An article as a client sends it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    id: str | None = Field(
        None, description="Stable id; derived from url (or content) when absent.",
        pattern=ARTICLE_ID_PATTERN, examples=["ap-2024-0117"],
    )
    text: str = Field("", description="Body or lead of the article; may be empty.")
    title: str = Field("", validate_default=True,
                       description="Headline. May be empty when the article has text: "
                       "readers then see a title derived from the text, marked "
                       "title_derived.")
    source: str | None = Field(
        None, max_length=200, description="Outlet name or domain; defaults to the url's host."
    )
    url: str | None = Field(None, max_length=2000, description="http(s) address of the article.")
    published_at: datetime | None = Field(
        None, description="ISO 8601; naive means UTC; at most a day in the future and not "
        "before 1900. Defaults to the time of receipt."
    )
    lang: str | None = Field(
        None, pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$", description="ISO 639-1 language code."
    )

    @field_validator("title", "text", "source", mode="before")
    @classmethod
    def _strings_only(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError("must be a string")
        return value

    @field_validator("id", "title", "text", "source", "url", "lang", mode="before")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        if isinstance(value, str) and _SURROGATES.search(value):
            raise ValueError("must be valid Unicode text (it holds a lone surrogate, e.g. "
                             "\\ud800)")
        return value

    @field_validator("title")
    @classmethod
    def _title(cls, value: str, info: ValidationInfo) -> str:
        value = _CONTROL_CHARS.sub("", value).strip()
        if not value and not str(info.data.get("text") or "").strip():
            raise ValueError("must not be empty when the article has no text")
        limits = _limits(info)
        if len(value) > limits.max_title_chars:
            raise ValueError(f"must be at most {limits.max_title_chars} characters")
        return value

    @field_validator("text")
    @classmethod
    def _text(cls, value: str, info: ValidationInfo) -> str:
        value = _CONTROL_CHARS.sub("", value).strip()
        limits = _limits(info)
        if len(value) > limits.max_text_chars:
            raise ValueError(f"must be at most {limits.max_text_chars} characters")
        return value

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = _CONTROL_CHARS.sub("", value).strip()
        return value or None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value

    @field_validator("published_at", mode="before")
    @classmethod
    def _published_at(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ValueError("must be an ISO 8601 date-time string")
        try:
            parsed = parse_timestamp(value)
        except (ValueError, OverflowError):
            raise ValueError("must be an ISO 8601 date-time, e.g. 2024-05-01T12:00:00Z") from None
        if parsed > datetime.now(UTC) + FUTURE_TOLERANCE:
            raise ValueError("must not be more than a day in the future")
        if parsed.year < EARLIEST_YEAR:
            raise ValueError(f"must not be before {EARLIEST_YEAR}")
        return parsed


def _limits(info: ValidationInfo) -> TextLimits:
    context = info.context or {}
    limits = context.get("limits")
    return limits if isinstance(limits, TextLimits) else TextLimits()


@dataclass(frozen=True)
class Article:
    """A validated, normalised article; what the store keeps."""

    id: ArticleId
    title: str
    text: str
    source: str
    url: str | None
    published_at: datetime | None
    lang: str | None

    @property
    def timestamp(self) -> float | None:
        return None if self.published_at is None else self.published_at.timestamp()

    @property
    def content_hash(self) -> str:
        """Changes whenever anything a client sent changes (re-posts are compared by it)."""
        published = "" if self.published_at is None else self.published_at.isoformat()
        parts = (self.title, self.text, self.source, self.url or "", published, self.lang or "")
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


DERIVED_TITLE_CHARS = 120
"""The longest title derived from an article's text (cut at a word)."""


def display_title(title: str, text: str) -> tuple[str, bool]:
    """What readers see as the article's title, and whether it was derived:
    the title, or for an article sent without one, the first sentence of its
    text (at most ``DERIVED_TITLE_CHARS``, cut at a word with an ellipsis)."""
    if title.strip():
        return title, False
    from cluster.text.sentences import split_sentences

    sentences = split_sentences(text)
    first = sentences[0] if sentences else " ".join(text.split())
    if len(first) > DERIVED_TITLE_CHARS:
        cut = first[:DERIVED_TITLE_CHARS]
        space = cut.rfind(" ")
        first = (cut[:space] if space > DERIVED_TITLE_CHARS // 2 else cut).rstrip(",;:") + "…"
    return first, True


def derive_article_id(title: str, text: str, source: str | None, url: str | None) -> ArticleId:
    """A stable id for an article sent without one: from its url, else its content."""
    if url:
        return "u-" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:20]
    digest = hashlib.sha256("\x1f".join((title, text, source or "")).encode("utf-8"))
    return "c-" + digest.hexdigest()[:20]


def to_article(incoming: ArticleIn, received_at: datetime | None = None) -> Article:
    """Fill in derived fields. ``received_at`` stands in for a missing date; leave
    it None to keep the article undated (evaluation files without dates)."""
    source = incoming.source or (urlsplit(incoming.url).hostname if incoming.url else None)
    return Article(
        id=incoming.id or derive_article_id(incoming.title, incoming.text, source, incoming.url),
        title=incoming.title,
        text=incoming.text,
        source=source or "unknown",
        url=incoming.url,
        published_at=incoming.published_at or received_at,
        lang=incoming.lang,
    )
