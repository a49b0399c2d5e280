"""Which backend a store location names, and opening it."""

from __future__ import annotations

from pathlib import Path

from cluster.errors import ConfigurationError
from cluster.store.interface import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(location: str) -> bool:
    return location.startswith(POSTGRES_SCHEMES)


def open_store(location: str, *, read_only: bool = False, role: str | None = None) -> Store:
    """The store at ``location``: a PostgreSQL URL, or the path of an SQLite file.
    ``read_only``: a reader's store, which never writes and takes no writer's lock.
    ``role``: one of several writers sharing a PostgreSQL store (a partition)."""
    if is_postgres(location):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "store_url names a PostgreSQL store, and psycopg is not installed: "
                "pip install 'newsclusters[postgres]'") from None
        from cluster.store.postgres import PostgresStore

        return PostgresStore(location, read_only=read_only, role=role)
    if role is not None:
        raise ConfigurationError("a partitioned writer needs a PostgreSQL store (store_url)")
    from cluster.store.sqlite import SQLiteStore

    return SQLiteStore(Path(location), read_only=read_only)
