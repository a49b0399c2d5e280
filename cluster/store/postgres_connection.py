"""A psycopg connection as the store's queries use a connection.

The queries are written with ``?`` placeholders (SQLite's); psycopg takes
``%s`` and reads every ``%`` as the start of one. No query holds a ``?`` or
``%`` inside a string literal, so the rewrite is textual, once per query text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg


@lru_cache(maxsize=1024)
def placeholders(sql: str) -> str:
    """``sql`` with psycopg's placeholders."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresConnection:
    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.raw = connection

    def execute(self, sql: str, parameters: Any = None, /) -> Any:
        if parameters is None:
            return self.raw.execute(sql)
        return self.raw.execute(placeholders(sql), parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        cursor = self.raw.cursor()
        rows = list(parameters)
        if rows:  # psycopg refuses an empty batch
            cursor.executemany(placeholders(sql), rows)
        return cursor
