"""Reading the labelled-data format: JSON Lines of
``{"id", "title", "text", "date", "source", "lang"?, "cluster"?, "url"?}``;
other fields are ignored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from cluster.articles.incoming import Article, ArticleIn, TextLimits, to_article
from cluster.errors import InvalidInput

_FIELDS = {"id": "id", "title": "title", "text": "text", "date": "published_at",
           "published_at": "published_at", "source": "source", "lang": "lang", "url": "url"}


@dataclass(frozen=True)
class LabelledArticle:
    article: Article
    cluster: str | None
    story_title: str | None = None
    """A human-written headline for the gold story, where the file has one."""


def parse_line(line: str, where: str, limits: TextLimits | None = None) -> LabelledArticle:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInput(where, f"not valid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise InvalidInput(where, "each line must be a JSON object")
    data = {_FIELDS[k]: v for k, v in record.items() if k in _FIELDS}
    if isinstance(data.get("lang"), str) and not data["lang"]:
        data["lang"] = None
    try:
        incoming = ArticleIn.model_validate(data, context={"limits": limits or TextLimits()})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or "record"
        raise InvalidInput(f"{where}.{field}", error["msg"]) from None
    label = record.get("cluster")
    title = record.get("story_title")
    return LabelledArticle(to_article(incoming), None if label is None else str(label),
                           title if isinstance(title, str) and title.strip() else None)


def iter_labelled(path: Path, limits: TextLimits | None = None) -> Iterator[LabelledArticle]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield parse_line(line, f"{path.name}:{number}", limits)


def replay_order(items: list[LabelledArticle]) -> list[LabelledArticle]:
    """By publication time, ties by id; undated articles keep their order by
    id after the dated ones."""
    return sorted(items, key=lambda item: (
        item.article.timestamp is None, item.article.timestamp or 0.0, item.article.id))


def read_labelled(path: Path, limits: TextLimits | None = None) -> list[LabelledArticle]:
    """A file's articles in replay order; the first bad row stops the read
    (an import must not store half a file it will refuse)."""
    return replay_order(list(iter_labelled(path, limits)))


def read_labelled_leniently(
    path: Path, limits: TextLimits | None = None,
) -> tuple[list[LabelledArticle], list[InvalidInput]]:
    """A file's readable articles in replay order, and each refused row's
    error (``file:line.field: reason``): an evaluation scores what it can."""
    items: list[LabelledArticle] = []
    refused: list[InvalidInput] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                items.append(parse_line(line, f"{path.name}:{number}", limits))
            except InvalidInput as exc:
                refused.append(exc)
    return replay_order(items), refused
