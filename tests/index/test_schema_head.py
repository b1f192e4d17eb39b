"""The index opens without Alembic when it is already at the newest migration: that needs the code to
know the newest migration without asking Alembic (``SCHEMA_HEAD``), and this test keeps the two equal."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from alttext.index.db import SCHEMA_HEAD, Index, migrations_dir, stored_revision


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
