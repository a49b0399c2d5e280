"""Request bodies the API accepts (responses are the library's view records)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from cluster.articles.incoming import ArticleIn
from cluster.service.view_builders import RelatedFilters
from cluster.service.views import IngestResult


class ArticleBatch(BaseModel):
    """Several articles in one all-or-nothing call."""

    model_config = ConfigDict(extra="forbid")

    articles: list[ArticleIn] = Field(..., min_length=1)


class RelatedQuery(BaseModel):
    """An article that is not stored, to find coverage of."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(..., description="Required; at most ``max_title_chars`` characters.")
    text: str = Field("", description="At most ``max_text_chars`` characters.")
    k: int = Field(10, ge=1)
    per_source: int = Field(1, ge=0, description="Results per outlet (0: no limit).")
    since: datetime | None = Field(None, description="Only coverage published at or after.")
    until: datetime | None = Field(None, description="Only coverage published at or before.")
    exclude_sources: list[str] = Field(
        default_factory=list, max_length=100, description="Outlets to leave out.")
    min_score: float = Field(-1.0, ge=-1.0, le=1.0, allow_inf_nan=False,
                             description="Leave out other stories' coverage less similar.")
    published_at: datetime | None = Field(
        None, description="When the text was published (ISO 8601); defaults to the newest "
        "publication time the service has seen, i.e. 'if it arrived now'.")

    @field_validator("title", "text", mode="before")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        return ArticleIn._valid_unicode(value)

    @field_validator("exclude_sources", mode="before")
    @classmethod
    def _valid_unicode_sources(cls, value: Any) -> Any:
        if isinstance(value, list):
            for item in value:
                ArticleIn._valid_unicode(item)
        return value

    @field_validator("title")
    @classmethod
    def _title(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return ArticleIn._title(value, info)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str, info: ValidationInfo) -> str:
        return ArticleIn._text(value, info)

    @field_validator("published_at", "since", "until", mode="before")
    @classmethod
    def _published_at(cls, value: Any) -> Any:
        return ArticleIn._published_at(value)


    def filters(self) -> RelatedFilters:
        return RelatedFilters(
            self.k, self.per_source, self.since.timestamp() if self.since else None,
            self.until.timestamp() if self.until else None,
            frozenset(s.strip().lower() for s in self.exclude_sources if s.strip()),
            self.min_score)


@dataclass(frozen=True)
class IngestBatchResult:
    results: list[IngestResult]


@dataclass(frozen=True)
class QueuedBatch:
    """Articles accepted into the scale-out deployment's ingest queue: stored
    durably, clustered shortly (read them back by id)."""

    ids: list[str]
    positions: list[int]


@dataclass(frozen=True)
class Health:
    status: str
