"""The source of truth: the ``Store`` interface (``Reader``, ``Writer``), its
SQLite backend with numbered migrations, the stored records, and backups."""

from cluster.store.interface import Reader, Store, Writer
from cluster.store.records import (
    Presentation,
    StoredArticle,
    StoryEvent,
    StorylineMember,
    StorylineRow,
    StoryRow,
)
from cluster.store.sqlite import SQLiteStore

__all__ = [
    "Presentation",
    "Reader",
    "SQLiteStore",
    "Store",
    "StoredArticle",
    "StoryEvent",
    "StoryRow",
    "StorylineMember",
    "StorylineRow",
    "Writer",
]
