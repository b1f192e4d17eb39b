"""The index opens without Alembic when it is already at the newest migration: that needs the code to
know the newest migration without asking Alembic (``SCHEMA_HEAD``), and this test keeps the two equal."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from alttext.index.db import SCHEMA_HEAD, Index, migrations_dir, stored_revision


def _alembic_head() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return ScriptDirectory.from_config(config).get_current_head()


def test_schema_head_is_alembics_head() -> None:
    head = _alembic_head()
    assert head == SCHEMA_HEAD, (
        f"a migration was added: set SCHEMA_HEAD = {head!r} in alttext/index/db.py (it is {SCHEMA_HEAD!r});"
        " an index at the head then opens without importing Alembic")


def test_an_index_behind_the_head_is_still_upgraded(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite3"
    with Index(db) as index:
        assert stored_revision(index.reader) == SCHEMA_HEAD
    with sqlite3.connect(db) as connection:  # as an older alttext left it
        connection.execute("DROP TABLE index_identity")
        connection.execute("UPDATE alembic_version SET version_num = '0003'")
    with Index(db) as index:
        assert stored_revision(index.reader) == SCHEMA_HEAD
        with index.read() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM index_identity").scalar() == 1
