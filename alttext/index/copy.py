"""Copying a whole index to another database: SQLite to PostgreSQL, PostgreSQL to SQLite, or the same
engine to the same engine (``alttext db copy``, docs/architecture.md §12).

Every table of the schema is copied row by row with its primary keys, so ids (and with them the app's
addresses, which carry the index identity's uid, copied too) mean the same on the copy. The search table
is not copied: it is derived from captions and files, so the destination's own triggers and a final
rebuild make it in the destination's dialect (FTS5 or tsvector).

Bounded memory at any size: each table is read by keyset pagination on its primary key, ``BATCH`` rows at
a time, and each batch is one short write transaction on the destination (the write rule of
docs/architecture.md §9: no write lock held for the length of a 10^7-row copy, and no transaction whose
undo log grows with the index). The price: an interrupted copy leaves a partial destination, which a
second copy refuses as not empty; delete it (or drop and recreate the database) and copy again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import JSON, Connection, MetaData, Table, bindparam, func, insert, select, text, update

from alttext.index.db import Index, is_server_url
from alttext.index.models import images, index_identity, metadata

BATCH = 5_000


class DestinationNotEmpty(Exception):
    """The destination already holds an index's rows; the message is for the user."""


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    destination: int

    @property
    def matches(self) -> bool:
        return self.source == self.destination


def _copy_tables() -> list[Table]:
    """The schema's tables in foreign-key order, with JSON columns that keep SQL NULL apart from JSON
    ``null`` (the plain JSON type writes Python None as ``'null'``)."""
    copies = MetaData()
    tables = []
    for table in metadata.sorted_tables:
        copy = table.to_metadata(copies)
        for column in copy.columns:
            if isinstance(column.type, JSON):
                column.type = JSON(none_as_null=True)
        tables.append(copy)
    order = ("roots", "images", "captions", "files", "variants", "jobs", "caption_embeddings", "index_identity")
    return sorted(tables, key=lambda table: order.index(table.name) if table.name in order else len(order))


def _count(connection: Connection, table: Table) -> int:
    return int(connection.execute(select(func.count()).select_from(table)).scalar() or 0)


def _check_empty(destination: Index, tables: list[Table]) -> None:
    """A new index has only its identity row (migration 0004); anything more is someone's index."""
    with destination.read() as connection:
        for table in tables:
            allowed = 1 if table.name == index_identity.name else 0
            if _count(connection, table) > allowed:
                raise DestinationNotEmpty(
                    f"{destination.path} is not empty (table {table.name} has rows): copy into a new index")


def _batches(source: Index, table: Table, batch: int) -> Iterator[list[dict[str, object]]]:
    key = next(iter(table.primary_key.columns))
    after: object = None
    while True:
        query = select(table).order_by(key).limit(batch)
        if after is not None:
            query = query.where(key > after)
        with source.read() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
        if not rows:
            return
        yield rows
        after = rows[-1][key.name]


# The search row's description and image text: the current caption's own, else the picture's newest (as
# migration 0008 builds it; keep the two equal).
_NEWEST = ("(SELECT d.{column} FROM captions d WHERE d.image_id = i.id AND d.{column} <> ''"
           " ORDER BY d.created_at DESC, d.id DESC LIMIT 1)")
_PICTURE = ", ".join(f"coalesce(nullif(c.{column}, ''), {_NEWEST.format(column=column)}, '')"
                     for column in ("description", "image_text"))


def _rebuild_search(connection: Connection) -> None:
    """The search table from captions and files, as migration 0008 builds it, in the connection's dialect."""
    if connection.dialect.name == "postgresql":
        names = ("coalesce((SELECT string_agg(f.name || ' ' || coalesce(f.folder, ''), ' ' ORDER BY f.id)"
                 " FROM files f WHERE f.image_id = i.id AND f.state = 'indexed'), '')")
        target = "search_fts (image_id, alt_text, name, description, image_text)"
    else:
        names = ("(SELECT group_concat(f.name || ' ' || coalesce(f.folder, ''), ' ') FROM files f"
                 " WHERE f.image_id = i.id AND f.state = 'indexed')")
        target = "search_fts(rowid, alt_text, name, description, image_text)"
    connection.execute(text("DELETE FROM search_fts"))
    connection.execute(text(
        f"INSERT INTO {target} SELECT i.id, c.text, {names}, {_PICTURE}"
        " FROM images i JOIN captions c ON c.id = i.caption_id"
        " WHERE EXISTS (SELECT 1 FROM files f WHERE f.image_id = i.id AND f.state = 'indexed')"))


def _fix_sequences(connection: Connection, tables: list[Table]) -> None:
    """PostgreSQL: move each serial column's sequence past the copied ids, so new rows don't collide."""
    for table in tables:
        key = next(iter(table.primary_key.columns))
        sequence = connection.execute(text("SELECT pg_get_serial_sequence(:table, :column)"),
                                      {"table": table.name, "column": key.name}).scalar()
        if sequence is not None:
            connection.execute(text(
                f'SELECT setval(:sequence, coalesce((SELECT max("{key.name}") FROM "{table.name}"), 0) + 1, false)'),
                {"sequence": sequence})


def copy_index(source_location: str | os.PathLike[str], destination_location: str | os.PathLike[str], *,
               batch: int = BATCH, progress: Callable[[str, int], None] | None = None) -> list[TableCount]:
    """Copy the index at ``source_location`` into the empty one at ``destination_location`` (an SQLite path
    or a ``postgresql://`` address; a new one is created and migrated), then count both ends per table.

    Raises ``IndexMissing``/``IndexUnavailable`` (alttext.index.db) for a source or destination that
    cannot be opened, ``DestinationNotEmpty`` for one that holds rows. ``progress(table, rows)`` is told
    after each batch."""
    if not is_server_url(source_location) and not is_server_url(destination_location) and (
            os.path.abspath(source_location) == os.path.abspath(destination_location)):
        raise DestinationNotEmpty("the source and the destination are the same index")
    tables = _copy_tables()
    with Index(source_location, create=False) as source, Index(destination_location) as destination:
        _check_empty(destination, tables)
        with destination.write() as connection:  # the new index's own identity gives way to the source's
            connection.execute(index_identity.delete())
        for table in tables:
            copied = 0
            for rows in _batches(source, table, batch):
                with destination.write() as connection:
                    if table.name == images.name:
                        # images.caption_id points at captions, copied after images: set it afterwards.
                        connection.execute(insert(table), [{**row, "caption_id": None} for row in rows])
                    else:
                        connection.execute(insert(table), rows)
                copied += len(rows)
                if progress is not None:
                    progress(table.name, copied)
            if table.name == "captions":
                _link_captions(source, destination, tables, batch)
        with destination.write() as connection:
            _rebuild_search(connection)
            if destination.dialect == "postgresql":
                _fix_sequences(connection, tables)
        with source.read() as source_connection, destination.read() as destination_connection:
            return [TableCount(table.name, _count(source_connection, table), _count(destination_connection, table))
                    for table in tables]


def _link_captions(source: Index, destination: Index, tables: list[Table], batch: int) -> None:
    """Set each copied image's shown caption, now that the captions are there."""
    images_copy = next(table for table in tables if table.name == images.name)
    shown = images_copy.select().with_only_columns(images_copy.c.id, images_copy.c.caption_id)
    after = 0
    while True:
        with source.read() as connection:
            rows = connection.execute(
                shown.where(images_copy.c.id > after, images_copy.c.caption_id.is_not(None))
                .order_by(images_copy.c.id).limit(batch)).all()
        if not rows:
            return
        with destination.write() as connection:
            link = update(images_copy).where(images_copy.c.id == bindparam("image"))
            connection.execute(link.values(caption_id=bindparam("caption")),
                               [{"image": row.id, "caption": row.caption_id} for row in rows])
        after = rows[-1].id

