"""newsclusters: multi-source news story clustering.

The library, one package per part of the design:

    articles/    what an article is on the way in; JSONL files; importing them
    embedding/   text → vectors (sentence-transformers, a hashing fake, a cache)
    store/       the source of truth: the store interface, SQLite, migrations, backups
    index/       vector indexes (FAISS, an exact NumPy reference), layouts, snapshots
    text/        words, sentences, TF-IDF profiles, near-duplicate fingerprints
    clustering/  the online clusterer: centroids, scoring, splits, stable ids
    stories/     how a story presents itself: headline, label, summary, hotness
    service/     the ``StoryService`` facade and its parts (ingest, queries, ...)
    evaluation/  replaying labelled files, BCubed and ROUGE, baselines, tuning
    feeds/       RSS/Atom polling into the service

Importing ``cluster`` loads no model and opens no file; the names below are
imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cluster.articles.incoming import Article as Article
    from cluster.articles.incoming import ArticleIn as ArticleIn
    from cluster.errors import ClusterError as ClusterError
    from cluster.service.facade import StoryService as StoryService
    from cluster.settings import Settings as Settings
    from cluster.settings import load_settings as load_settings

_EXPORTS = {
    "Article": "cluster.articles.incoming",
    "ArticleIn": "cluster.articles.incoming",
    "ClusterError": "cluster.errors",
    "Settings": "cluster.settings",
    "StoryService": "cluster.service.facade",
    "load_settings": "cluster.settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cluster' has no attribute {name!r}")
