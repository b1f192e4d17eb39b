"""The index opens without Alembic when it is already at the newest migration: that needs the code to
know the newest migration without asking Alembic (``SCHEMA_HEAD``), and this test keeps the two equal."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from alttext.index import db as db_module
from alttext.index.db import SCHEMA_HEAD, Index, migrations_dir, server_url, stored_revision


def _config(db: Path | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if db is not None:
        config.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    return config


def _alembic_head() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def test_schema_head_is_alembics_head() -> None:
    head = _alembic_head()
    assert head == SCHEMA_HEAD, (
        f"a migration was added: set SCHEMA_HEAD = {head!r} in alttext/index/db.py (it is {SCHEMA_HEAD!r});"
        " an index at the head then opens without importing Alembic")


def test_an_index_behind_the_head_is_still_upgraded(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite3"
    command.upgrade(_config(db), "0003")  # as an older alttext left it
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == ("0003",)
    with Index(db) as index:
        assert stored_revision(index.reader) == SCHEMA_HEAD
        with index.read() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM index_identity").scalar() == 1


@pytest.mark.both_backends
def test_an_index_at_the_head_opens_without_alembic(db: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    Index(db).close()  # created (SQLite) or copied from the migrated template (PostgreSQL): at the head

    def no_alembic(engine: object) -> None:
        raise AssertionError("Alembic was asked to upgrade an index already at the head")

    monkeypatch.setattr(db_module, "upgrade", no_alembic)
    with Index(db) as index:
        assert stored_revision(index.reader) == SCHEMA_HEAD


@pytest.mark.both_backends
def test_a_new_database_has_no_revision_and_one_behind_is_upgraded(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if backend == "postgresql":
        server = request.getfixturevalue("postgres_server")
        location: Path | str = server.url(server.new_database())
        engine = create_engine(server_url(location))
    else:
        location = tmp_path / "index.sqlite3"
        engine = create_engine(f"sqlite:///{location}")
    assert stored_revision(engine) is None  # no alembic_version table: nothing migrated yet
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    assert stored_revision(engine) == "0004"
    engine.dispose()
    with Index(location) as index:
        assert stored_revision(index.reader) == SCHEMA_HEAD
