"""Alembic environment. alttext runs migrations itself when an index opens (alttext.index.db), passing
its connection in ``config.attributes["connection"]``; the alembic command line works too, with
``-x db=PATH`` or sqlalchemy.url in alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from alttext.index.models import metadata

config = context.config
target_metadata = metadata


def _url() -> str:
    db = context.get_x_argument(as_dictionary=True).get("db")
    if db:
        return f"sqlite:///{db}"
    return config.get_main_option("sqlalchemy.url") or "sqlite:///index.sqlite3"


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
