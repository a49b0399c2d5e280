from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from cluster.articles.incoming import (
    ArticleIn,
    TextLimits,
    derive_article_id,
    is_valid_article_id,
    to_article,
)
from cluster.embedding.models import embedding_text


def test_naive_dates_are_utc_and_offsets_are_converted() -> None:
    naive = ArticleIn.model_validate({"title": "x", "published_at": "2024-05-01T12:00:00"})
    offset = ArticleIn.model_validate({"title": "x", "published_at": "2024-05-01T14:00:00+02:00"})
    zulu = ArticleIn.model_validate({"title": "x", "published_at": "2024-05-01T12:00:00Z"})
    expected = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert naive.published_at == offset.published_at == zulu.published_at == expected


@pytest.mark.parametrize(("data", "field"), [
    ({"title": ""}, "title"),
    ({"title": "   "}, "title"),
    ({"title": 5}, "title"),
    ({"title": "x", "published_at": "yesterday"}, "published_at"),
    ({"title": "x", "published_at": 1700000000}, "published_at"),
    ({"title": "x", "url": "ftp://example.com/a"}, "url"),
    ({"title": "x", "id": "../etc/passwd"}, "id"),
    ({"title": "x", "lang": "english"}, "lang"),
    ({"title": "x", "colour": "red"}, "colour"),
    ({"text": "   "}, "title"),
])
def test_invalid_fields_are_named(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        ArticleIn.model_validate(data)
    assert field in {str(e["loc"][0]) for e in info.value.errors()}


def test_length_limits_come_from_context() -> None:
    limits = TextLimits(max_title_chars=5, max_text_chars=10)
    with pytest.raises(ValidationError):
        ArticleIn.model_validate({"title": "too long a title"}, context={"limits": limits})
    with pytest.raises(ValidationError):
        ArticleIn.model_validate({"title": "ok", "text": "x" * 11}, context={"limits": limits})


def test_control_characters_are_removed() -> None:
    article = ArticleIn.model_validate({"title": "Hello\x00 \x07world", "text": "a\x1bb"})
    assert article.title == "Hello world"
    assert article.text == "ab"


def test_derived_ids_prefer_url_and_are_stable() -> None:
    by_url = derive_article_id("t", "x", "s", "https://example.com/a")
    assert by_url == derive_article_id("other", "y", "z", "https://example.com/a")
    by_content = derive_article_id("t", "x", "s", None)
    assert by_content != by_url and by_content == derive_article_id("t", "x", "s", None)
    assert is_valid_article_id(by_url) and is_valid_article_id(by_content)


def test_source_defaults_to_url_host_and_missing_date_to_receipt() -> None:
    received = datetime(2024, 1, 1, tzinfo=UTC)
    article = to_article(ArticleIn.model_validate(
        {"title": "x", "url": "https://news.example.org/a"}), received)
    assert article.source == "news.example.org"
    assert article.published_at == received


def test_embedding_text_is_title_then_lead_cut_at_a_word() -> None:
    text = embedding_text("Title", "one two three four five six", lead_chars=12)
    assert text == "Title\none two"
    assert embedding_text("Title", "", lead_chars=100) == "Title"


def test_content_hash_changes_with_any_field() -> None:
    base = to_article(ArticleIn.model_validate({"title": "x", "text": "y", "source": "s"}))
    other = to_article(ArticleIn.model_validate({"title": "x", "text": "y", "source": "t"}))
    assert base.content_hash != other.content_hash


def test_a_labelled_row_without_a_title_is_read_when_it_has_text() -> None:
    from cluster.articles.incoming import display_title
    from cluster.articles.jsonl import parse_line

    item = parse_line('{"id": "u1", "title": "", "text": "Body only. Second sentence.", '
                      '"date": "2024-01-01T00:00:00Z", "cluster": "7"}', "f.jsonl:1")
    assert item.article.title == "" and item.cluster == "7"
    assert display_title(item.article.title, item.article.text) == ("Body only.", True)
    assert display_title("A headline", "Body.") == ("A headline", False)
