"""The sources file: which feeds to poll, and how.

TOML, one ``[[feeds]]`` table per feed::

    [defaults]
    poll_minutes = 15
    full_text = false

    [[feeds]]
    url = "https://example.org/world/rss.xml"
    source = "Example News"
    poll_minutes = 10        # optional, else [defaults]
    lang = "en"              # optional
    full_text = true         # fetch and extract article pages when the feed has teasers
    private_network = false  # true: the feed's own URL may be on a private network

Only public addresses are fetched: a feed on an intranet must say
``private_network = true``, and even then the links and redirects taken
from its content (article pages) are held to public addresses, so a feed
can never make the service fetch from its own network and publish it.

Unknown keys and bad values are refused with the feed's position named.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cluster.errors import ConfigurationError


class FeedDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    poll_minutes: float = Field(15.0, gt=0.0, le=7 * 24 * 60)
    full_text: bool = False
    lang: str | None = Field(None, min_length=2, max_length=8)


class FeedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(..., max_length=2000)
    source: str = Field(..., min_length=1, max_length=200)
    poll_minutes: float | None = Field(None, gt=0.0, le=7 * 24 * 60)
    full_text: bool | None = None
    lang: str | None = Field(None, min_length=2, max_length=8)
    private_network: bool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        return value


class FeedSettings(BaseModel):
    """The sources file as a whole."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: FeedDefaults = Field(default_factory=FeedDefaults)
    feeds: list[FeedConfig] = Field(default_factory=list)

    def poll_seconds(self, feed: FeedConfig) -> float:
        return 60.0 * (feed.poll_minutes or self.defaults.poll_minutes)

    def full_text(self, feed: FeedConfig) -> bool:
        return self.defaults.full_text if feed.full_text is None else feed.full_text

    def lang(self, feed: FeedConfig) -> str | None:
        return feed.lang or self.defaults.lang


def load_feed_settings(path: Path) -> FeedSettings:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path}: {exc}") from None
    try:
        settings = FeedSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigurationError(f"{path}: {problems}") from None
    seen: set[str] = set()
    for feed in settings.feeds:
        if feed.url in seen:
            raise ConfigurationError(f"{path}: feed {feed.url} is listed twice")
        seen.add(feed.url)
    return settings
