"""Opening the index (an SQLite file, or a PostgreSQL database): connection settings, migrations, and the
write rule.

The write rule (docs/architecture.md §9): any thread or process may write, each write a short
``BEGIN IMMEDIATE`` transaction through :meth:`Index.write`, never held open across model or HTTP work;
reads go through :meth:`Index.read` (SQLAlchemy) or :meth:`Index.read_sql` (SQL text on the driver's
connection, no SQLAlchemy on SQLite: what status, show and search use), both ``query_only``, so a write
there fails loudly. WAL lets readers run while a scan or the daemon writes. Writers take the write lock up front with
``BEGIN IMMEDIATE`` (a deferred transaction that upgrades to a writer later can fail with "database is
locked" instead of waiting); ``busy_timeout`` makes everyone wait instead of failing.
``synchronous=NORMAL`` can lose the last transactions on power loss, never corrupt: captions can be
regenerated, and pending work is re-found by the next reconcile scan.

PostgreSQL (``postgresql://user@host/db``, docs/architecture.md §12): the same rule. Each write
transaction first takes one transaction-scoped advisory lock, so writers run one at a time exactly as with
``BEGIN IMMEDIATE`` (the code relies on check-then-write inside one write); the reader engine's sessions
are ``default_transaction_read_only``, so a write there fails loudly too.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from alttext.index.dbapi import BUSY_TIMEOUT_MS as BUSY_TIMEOUT_MS
from alttext.index.dbapi import ReadConnection, SqliteReaders, configure_sqlite

if TYPE_CHECKING:  # SQLAlchemy is imported only where an engine is made: reads need none (read_sql)
    from sqlalchemy import Connection, Engine
    from sqlalchemy.engine import URL

logger = logging.getLogger(__name__)

# PostgreSQL: the advisory lock every write transaction takes (any constant; "alttext" in ASCII).
WRITE_LOCK_KEY = 0x616C7474657874
SERVER_SCHEMES = ("postgresql", "postgres")

# The newest migration in migrations/versions/. An index already at this revision opens without importing
# Alembic (0.1-0.2 s of every command's start-up); tests/index/test_schema_head.py checks it against
# Alembic's own head, so adding a migration means changing this line too.
SCHEMA_HEAD = "0010"


def __getattr__(name: str) -> Any:
    """``DatabaseError``: whatever the database or its driver raised (a server restart, a dropped link, SQLite
    busy past its timeout), as a tuple for ``except``, for the layers above that must tell the index's trouble
    from a file's without importing SQLAlchemy themselves: SQLAlchemy's errors, and the drivers' own, which
    ``read_sql`` lets through. Looked up on demand: it imports SQLAlchemy, which the read commands never need."""
    if name == "DatabaseError":
        from sqlalchemy.exc import SQLAlchemyError

        errors: tuple[type[BaseException], ...] = (SQLAlchemyError, sqlite3.Error)
        try:
            import psycopg
        except ImportError:  # the `postgres` extra is not installed: no PostgreSQL index can be open
            return errors
        return (*errors, psycopg.Error)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class IndexUnavailable(Exception):
    """The index cannot be opened or upgraded; the message is for the user."""


class IndexMissing(IndexUnavailable):
    """Opening for reading found no index file: a mistyped path must not become a new, empty index."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no index at {path} (run `alttext scan` or `alttext watch` to create one)")
        self.path = path


def migrations_dir() -> Path:
    """Where the Alembic scripts are: inside the installed package, or migrations/ in a checkout."""
    return Path(str(importlib.resources.files("alttext.migrations")))


def is_server_url(location: str | os.PathLike[str]) -> bool:
    """Does ``--db`` name a PostgreSQL database (``postgresql://...``) rather than an SQLite file?"""
    scheme = os.fspath(location).split("://", 1)[0] if "://" in os.fspath(location) else ""
    return scheme.split("+", 1)[0] in SERVER_SCHEMES


def server_url(location: str) -> URL:
    """The SQLAlchemy URL for a ``postgresql://`` address, always with the psycopg (3) driver."""
    from sqlalchemy import make_url

    url = make_url(location)
    return url.set(drivername="postgresql+psycopg")


# A session left idle inside a transaction this long is ended by the server, its locks released: a process
# stopped (SIGSTOP, a frozen VM) mid-transaction must not hold the write lock for ever (docs/architecture.md
# §16). Every transaction is short (§9), so this only ever ends a stalled one.
IDLE_IN_TRANSACTION_MS = 300_000


def _make_server_engine(url: URL, *, write: bool, serialized: bool = True,
                        idle_in_transaction_ms: int = IDLE_IN_TRANSACTION_MS,
                        application_name: str = "alttext") -> Engine:
    from sqlalchemy import create_engine, event

    options = f"-c idle_in_transaction_session_timeout={idle_in_transaction_ms}"
    if not write:
        options += " -c default_transaction_read_only=on"
    engine = create_engine(url, pool_pre_ping=True,
                           connect_args={"options": options, "application_name": application_name})
    if write and serialized:
        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            # One writer at a time, like SQLite's BEGIN IMMEDIATE; released at commit or rollback.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")

    return engine


def _make_engine(path: str, *, write: bool) -> Engine:
    from sqlalchemy import create_engine, event

    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        configure_sqlite(dbapi_connection, write=write)  # the same settings as read_sql's connections

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def stored_revision(engine: Engine) -> str | None:
    """The migration the index is at (None: a new file), read directly, without Alembic."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    with engine.connect() as connection:
        try:
            return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except (OperationalError, ProgrammingError):  # no such table (SQLite; PostgreSQL): nothing migrated yet
            return None


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (no-op when it is already there)."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.begin() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        if current == head:
            return
        logger.info("upgrading index schema from %s to %s", current or "empty", head)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class DriverConnection(Protocol):
    """The DB-API connection's ``execute`` (sqlite3's, or psycopg's behind :class:`ReadConnection`)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


def driver_connection(connection: Connection) -> DriverConnection:
    """The DB-API connection under ``connection``, for hot statements inside an SQLAlchemy transaction that
    skip its row objects. Takes sqlite3's parameter styles (``?``, ``:name``) on both backends."""
    raw = connection.connection.driver_connection
    if raw is None:  # only for a connection SQLAlchemy has invalidated or detached
        raise RuntimeError("the index connection is closed")
    if connection.dialect.name == "postgresql":
        return ReadConnection(raw, "postgresql")
    return raw


class Index:
    """One index: an SQLite file or a PostgreSQL database, with a writer engine and a reader engine on it.

    ``path`` is the SQLite file, or the database's address without its password (for messages);
    ``dialect`` is ``"sqlite"`` or ``"postgresql"``. ``create=False`` opens only an SQLite index that
    exists (``IndexMissing`` otherwise), creating no file or folder: what commands that only read or
    change an index use (docs/architecture.md §9); a PostgreSQL database is always made by its server.

    On SQLite the engines (and SQLAlchemy) are made on first use: opening an index at ``SCHEMA_HEAD`` and
    reading it through ``read_sql`` needs only the stdlib's sqlite3 (docs/architecture.md §6).
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 idle_in_transaction_ms: int = IDLE_IN_TRANSACTION_MS, application_name: str = "alttext") -> None:
        """PostgreSQL only: ``idle_in_transaction_ms`` ends a session stalled inside a transaction;
        ``application_name`` names the sessions in ``pg_stat_activity`` (a worker's host and pid)."""
        self._engines: dict[bool, Engine] = {}
        self._engines_lock = threading.Lock()
        self._readers: SqliteReaders | None = None
        self._claimer: Engine | None = None
        self._idle_ms = idle_in_transaction_ms
        self._application_name = application_name
        if is_server_url(path):
            self._open_server(os.fspath(path))
            return
        self.dialect = "sqlite"
        self.path = os.path.abspath(os.fspath(path))
        parent = os.path.dirname(self.path)
        if not create and not os.path.exists(self.path):
            raise IndexMissing(self.path)
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise IndexUnavailable(f"cannot create the index folder {parent}: {exc.strerror}") from exc
        self._readers = SqliteReaders(self.path)
        try:
            if self._sqlite_revision() != SCHEMA_HEAD:  # the everyday case skips importing Alembic
                upgrade(self.writer)
        except Exception as exc:
            self.close()
            raise IndexUnavailable(f"cannot open index {self.path}: {exc}") from exc

    def _sqlite_revision(self) -> str | None:
        """``stored_revision`` through sqlite3 alone."""
        with self.read_sql() as connection:
            try:
                return connection.scalar("SELECT version_num FROM alembic_version")
            except sqlite3.OperationalError:  # no such table: nothing migrated yet
                return None

    def _open_server(self, location: str) -> None:
        from sqlalchemy import make_url

        self.dialect = "postgresql"
        try:
            url = server_url(location)
        except Exception as exc:  # sqlalchemy.exc.ArgumentError: a malformed address
            raise IndexUnavailable(f"not a database address: {location}") from exc
        self.path = make_url(location).render_as_string(hide_password=True)  # as given, less any password
        self._url = url
        self._engines[True] = self._server_engine(url, write=True)
        self._engines[False] = self._server_engine(url, write=False)
        try:
            if stored_revision(self.reader) != SCHEMA_HEAD:  # as for SQLite: at the head, no Alembic
                upgrade(self.writer)
        except Exception as exc:
            self.close()
            # The driver's own first line ("connection refused", "database does not exist"), not
            # SQLAlchemy's wrapping with its statement and help link.
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__]
            raise IndexUnavailable(f"cannot open index {self.path}: {reason[0]}") from exc

    def _engine(self, write: bool) -> Engine:
        engine = self._engines.get(write)
        if engine is None:
            with self._engines_lock:
                engine = self._engines.get(write)
                if engine is None:
                    engine = self._engines[write] = _make_engine(self.path, write=write)
        return engine

    @property
    def writer(self) -> Engine:
        """The engine of write transactions (BEGIN IMMEDIATE; made on first use)."""
        return self._engine(True)

    @property
    def reader(self) -> Engine:
        """The engine of read-only connections (``PRAGMA query_only``; made on first use)."""
        return self._engine(False)

    def _server_engine(self, url: URL, *, write: bool, serialized: bool = True) -> Engine:
        return _make_server_engine(url, write=write, serialized=serialized, idle_in_transaction_ms=self._idle_ms,
                                   application_name=self._application_name)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (BEGIN IMMEDIATE), committed on success."""
        with self.writer.begin() as connection:
            yield connection

    @contextmanager
    def claim(self) -> Iterator[Connection]:
        """A write transaction that doesn't take turns with the other writers, for statements that are atomic
        on the rows they touch: claims (``FOR UPDATE SKIP LOCKED``) and lease renewals (docs/architecture.md
        §16). On PostgreSQL it skips the advisory write lock; SQLite has one writer at a time anyway."""
        if self.dialect != "postgresql":
            with self.write() as connection:
                yield connection
            return
        if self._claimer is None:
            self._claimer = self._server_engine(self._url, write=True, serialized=False)
        with self._claimer.begin() as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection (``PRAGMA query_only``): writing through it raises."""
        with self.reader.connect() as connection:
            yield connection

    @contextmanager
    def read_sql(self) -> Iterator[ReadConnection]:
        """A read-only transaction for SQL text (sqlite3's parameter styles, tuple rows: index/dbapi.py),
        without SQLAlchemy on SQLite. What the everyday reads (status, show, search) use."""
        if self._readers is None:
            with self.read_sql_via_engine() as connection:
                yield connection
            return
        with self._readers.read() as connection:
            yield connection

    @contextmanager
    def read_sql_via_engine(self) -> Iterator[ReadConnection]:
        """``read_sql`` through the reader engine's connection, in one transaction: what it is on PostgreSQL
        (and, for the tests that hold the two paths to the same answers, on SQLite too)."""
        with self.read() as connection, connection.begin():
            raw = connection.connection.driver_connection
            if raw is None:  # only for a connection SQLAlchemy has invalidated or detached
                raise RuntimeError("the index connection is closed")
            yield ReadConnection(raw, self.dialect)

    def size_bytes(self) -> int:
        if self.dialect == "postgresql":
            with self.read_sql() as connection:
                return int(connection.scalar("SELECT pg_database_size(current_database())") or 0)
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with suppress(OSError):
                total += os.path.getsize(self.path + suffix)
        return total

    def integrity_check(self) -> str:
        """"ok", or what is wrong. PostgreSQL has no whole-database check: there, every index must be valid."""
        with self.read_sql() as connection:
            if self.dialect == "postgresql":
                broken = connection.scalar(
                    "SELECT string_agg(indexrelid::regclass::text, ', ') FROM pg_index WHERE NOT indisvalid")
                return f"invalid indexes: {broken}" if broken else "ok"
            return str(connection.scalar("PRAGMA integrity_check"))

    def close(self) -> None:
        if self._claimer is not None:
            self._claimer.dispose()
        for engine in self._engines.values():
            engine.dispose()
        if self._readers is not None:
            self._readers.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
