"""What differs between the SQL databases the store runs on.

The store's queries (``reader.py``, ``writer.py``) are written once, in the
SQL that SQLite and PostgreSQL share, with ``?`` placeholders; a connection
hands them to its database (``postgres_connection.py`` rewrites the
placeholders for psycopg). The few things the two spell differently are
here, one small object per database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class Connection(Protocol):
    """The part of a DB-API connection the queries use (``sqlite3.Connection``
    has it; ``PostgresConnection`` adapts psycopg to it)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any:
        ...

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        ...


@dataclass(frozen=True)
class Dialect:
    name: str
    utc_day_format: str
    """An SQL expression, with ``{}`` for a column of epoch seconds, giving its UTC day as
    ``YYYY-MM-DD`` text."""
    defer_foreign_keys: str
    """The statement that defers foreign-key checks to the commit (renaming stories
    moves both ends of a reference, one statement at a time)."""
    bump_sequence_format: str | None
    """A statement, with ``{table}``, that moves the table's id sequence past its largest id
    (an id given explicitly does not move PostgreSQL's sequence; SQLite's
    AUTOINCREMENT follows by itself)."""

    def utc_day(self, column: str) -> str:
        return self.utc_day_format.format(column)

    def bump_sequence(self, connection: Connection, table: str) -> None:
        if self.bump_sequence_format is not None:
            connection.execute(self.bump_sequence_format.format(table=table))


SQLITE = Dialect(
    name="sqlite",
    utc_day_format="date({}, 'unixepoch')",
    defer_foreign_keys="PRAGMA defer_foreign_keys = ON",
    bump_sequence_format=None,
)

POSTGRES = Dialect(
    name="postgresql",
    utc_day_format="to_char(to_timestamp({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    defer_foreign_keys="SET CONSTRAINTS ALL DEFERRED",
    # never backwards: ids of deleted rows stay unused, as with SQLite's AUTOINCREMENT
    bump_sequence_format=(
        "SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST("
        "(SELECT COALESCE(MAX(id), 0) FROM {table}), "
        "(SELECT last_value FROM {table}_id_seq)), true)"),
)
