"""Reads straight through the database driver: the connection :meth:`Index.read_sql` hands out.

``status``, ``show`` and ``search`` run a handful of SQL statements each, and importing SQLAlchemy cost
them more than everything else they do (~0.1 s a command; docs/architecture.md §6). So their queries
are SQL text, written once, and run through this thin layer on both backends: on SQLite a stdlib
``sqlite3`` connection set up exactly as the engines' (``configure_sqlite``, which the engines call
too), on PostgreSQL psycopg's connection under SQLAlchemy's reader engine (the server path imports
SQLAlchemy anyway). SQL takes sqlite3's parameter styles (``?``, ``:name``) on both; rows are plain
tuples, values as the driver gives them, and the converters here do what SQLAlchemy's column types do
(``FsPath``, ``UtcDateTime``, ``JSON`` in models.py), so the two paths answer alike.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

BUSY_TIMEOUT_MS = 30_000
# How SQLAlchemy's SQLite dialect stores a DATETIME (text, always with microseconds); comparisons with
# stored times are text comparisons there, so a bound time must have exactly this form.
SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def configure_sqlite(connection: sqlite3.Connection, *, write: bool) -> None:
    """The connection settings of docs/architecture.md §9, for every SQLite connection of an index (the
    engines' and ``read_sql``'s). The caller issues BEGIN itself (``isolation_level = None``)."""
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    if not write:
        cursor.execute("PRAGMA query_only = ON")  # last: the pragmas above may need to write
    cursor.close()


_NAMED = re.compile(r"(?<![:\w]):(\w+)")


class ReadConnection:
    """A read-only DB-API connection that takes sqlite3's parameter styles (``?`` and ``:name``) on both
    backends; ``execute`` returns the driver's cursor (``fetchone``, ``fetchall``, iteration; rows are
    tuples)."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw = raw
        self.dialect = dialect

    def execute(self, sql: str, parameters: Any = ()) -> Any:
        if self.dialect == "postgresql":  # psycopg: %s / %(name)s, and a literal % doubled
            sql = sql.replace("%", "%%")
            sql = _NAMED.sub(r"%(\1)s", sql) if isinstance(parameters, dict) else sql.replace("?", "%s")
        return self.raw.execute(sql, parameters)

    def scalar(self, sql: str, parameters: Any = ()) -> Any:
        """The first column of the first row, or None."""
        row = self.execute(sql, parameters).fetchone()
        return row[0] if row is not None else None


class SqliteReaders:
    """sqlite3 connections for ``read_sql``, kept for reuse (opening one and setting its pragmas costs more
    than a short query); any thread may take one, one thread at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _take(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        try:
            configure_sqlite(connection, write=False)
        except BaseException:
            connection.close()
            raise
        return connection

    @contextmanager
    def read(self) -> Iterator[ReadConnection]:
        """One read transaction: every statement in it sees the same snapshot."""
        connection = self._take()
        try:
            connection.execute("BEGIN")
            yield ReadConnection(connection, "sqlite")
        except BaseException:
            connection.close()  # whatever went wrong, a fresh connection next time
            raise
        connection.execute("ROLLBACK")
        with self._lock:
            self._idle.append(connection)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def as_path(value: bytes | None) -> str | None:
    """A stored path (raw bytes, models.FsPath) as the str Python uses for it."""
    return os.fsdecode(value) if value is not None else None


def as_utc(value: str | datetime | None) -> datetime | None:
    """A stored time (naive UTC: SQLite's text, PostgreSQL's timestamp) made timezone-aware, as
    models.UtcDateTime hands it back."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def iso_utc(value: str | datetime | None) -> str | None:
    """A stored time as the ISO text the faces print ("2024-05-01T10:00:00.123456+00:00")."""
    moment = as_utc(value)
    return moment.isoformat() if moment is not None else None


def as_json(value: Any, dialect: str) -> Any:
    """A JSON column's value: SQLite hands back the text, psycopg the parsed value."""
    if dialect == "sqlite" and isinstance(value, str | bytes):
        return json.loads(value)
    return value


def bound_time(value: datetime, dialect: str) -> str | datetime:
    """A time to compare with stored ones, as models.UtcDateTime binds it: naive UTC (SQLite: its text)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime(SQLITE_TIME_FORMAT) if dialect == "sqlite" else value
