"""What an article is on the way in (validation, ids), the labelled JSONL
format, and importing files through the service."""

from cluster.articles.incoming import Article, ArticleIn, TextLimits, to_article

__all__ = ["Article", "ArticleIn", "TextLimits", "to_article"]
