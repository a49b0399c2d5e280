"""Request bodies the API accepts (responses are the library's view records)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from cluster.articles import ArticleIn
from cluster.views import IngestResult


class ArticleBatch(BaseModel):
    """Several articles in one all-or-nothing call."""

    model_config = ConfigDict(extra="forbid")

    articles: list[ArticleIn] = Field(..., min_length=1)


class RelatedQuery(BaseModel):
    """An article that is not stored, to find coverage of."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(..., min_length=1, max_length=1000)
    text: str = Field("", max_length=200_000)
    k: int = Field(10, ge=1)


@dataclass(frozen=True)
class IngestBatchResult:
    results: list[IngestResult]


@dataclass(frozen=True)
class Health:
    status: str
