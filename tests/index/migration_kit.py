"""Alembic by revision on an engine of either backend, for the migration tests (tests/index/conftest.py
has the ``empty_db`` fixture they start from)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text

from alttext.index.db import migrations_dir, server_url


def engine_for(db: str | Path) -> Engine:
    return create_engine(server_url(db) if isinstance(db, str) else f"sqlite:///{db}")


def migrate(engine: Engine, verb: str, revision: str) -> None:
    """``alembic upgrade|downgrade REVISION`` on ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, verb)(config, revision)


def rows(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql)).all()]
