"""Search by capture date and by folder names: files.taken_at and files.folder, the FTS row with folders.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

- ``files.taken_at``: when the photo was taken (EXIF, docs/architecture.md §11), indexed for date
  filters. Existing rows start NULL ("not read yet"); the next ``alttext scan`` (or the daemon's next
  pass) reads the header of each such file once (no decode, no captioning: ``index/capture_dates.py``).
- ``files.folder``: the folders between the scan root and the file, as display text, filled here from
  the stored paths (no disk access), and searched with the file names: the search triggers are
  recreated to index ``name`` and ``folder``, and the search table is rebuilt once from the captions it
  already has. Nothing is re-captioned. At 10^6 files this takes some seconds, once.
- On PostgreSQL (docs/architecture.md §12) the same: the search table's refresh function (migration
  0001) puts the folders into the ``name`` column, the files trigger also watches ``folder``, and the
  table is rebuilt once.
"""

from __future__ import annotations

import os

from alembic import op
from sqlalchemy import text

from alttext.paths import folders_below_root

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TRIGGERS = ("files_fts_insert", "files_fts_delete", "files_fts_update", "images_fts_caption", "captions_fts_text")
BATCH = 10_000


def _names(with_folders: bool) -> str:
    """The FTS ``name`` column of one image: its present files' names (and folders)."""
    what = "f.name || ' ' || coalesce(f.folder, '')" if with_folders else "f.name"
    return f"(SELECT group_concat({what}, ' ') FROM files f WHERE f.image_id = i.id AND f.state = 'indexed')"


def _refresh(image_id: str, with_folders: bool) -> str:
    """SQL that rebuilds the search row of one image (as migration 0001's, with the folders or without)."""
    return f"""
        DELETE FROM search_fts WHERE rowid = {image_id};
        INSERT INTO search_fts(rowid, alt_text, name)
        SELECT i.id, c.text, {_names(with_folders)}
        FROM images i JOIN captions c ON c.id = i.caption_id
        WHERE i.id = {image_id}
          AND EXISTS (SELECT 1 FROM files f WHERE f.image_id = i.id AND f.state = 'indexed');
    """


def _create_triggers(with_folders: bool) -> None:
    columns = "state, image_id, name, folder" if with_folders else "state, image_id, name"
    refresh = lambda image_id: _refresh(image_id, with_folders)  # noqa: E731
    for statement in (
        f"CREATE TRIGGER files_fts_insert AFTER INSERT ON files WHEN new.image_id IS NOT NULL"
        f" BEGIN {refresh('new.image_id')} END",
        f"CREATE TRIGGER files_fts_delete AFTER DELETE ON files WHEN old.image_id IS NOT NULL"
        f" BEGIN {refresh('old.image_id')} END",
        f"CREATE TRIGGER files_fts_update AFTER UPDATE OF {columns} ON files"
        f" WHEN old.image_id IS NOT NULL OR new.image_id IS NOT NULL"
        f" BEGIN {refresh('old.image_id')} {refresh('new.image_id')} END",
        f"CREATE TRIGGER images_fts_caption AFTER UPDATE OF caption_id ON images BEGIN {refresh('new.id')} END",
        f"CREATE TRIGGER captions_fts_text AFTER UPDATE OF text ON captions BEGIN {refresh('new.image_id')} END",
    ):
        op.execute(statement)


def _drop_triggers() -> None:
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")


def _rebuild_search_table(with_folders: bool) -> None:
    op.execute("DELETE FROM search_fts")
    op.execute(f"""
        INSERT INTO search_fts(rowid, alt_text, name)
        SELECT i.id, c.text, {_names(with_folders)}
        FROM images i JOIN captions c ON c.id = i.caption_id
        WHERE EXISTS (SELECT 1 FROM files f WHERE f.image_id = i.id AND f.state = 'indexed')
    """)


def _fill_folders() -> None:
    connection = op.get_bind()
    after = 0
    while True:
        rows = connection.execute(text(
            "SELECT f.id, f.dir, r.path FROM files f LEFT JOIN roots r ON r.id = f.root_id"
            " WHERE f.id > :after ORDER BY f.id LIMIT :n"), {"after": after, "n": BATCH}).all()
        if not rows:
            return
        values = [{"id": row[0], "folder": folders_below_root(os.fsdecode(row[1]),
                                                              os.fsdecode(row[2]) if row[2] is not None else None)}
                  for row in rows]
        connection.execute(text("UPDATE files SET folder = :folder WHERE id = :id"), values)
        after = rows[-1][0]


# PostgreSQL (docs/architecture.md §12): its triggers already call one refresh function (migration 0001),
# so the change is that function's name list, and the files trigger's column list (a folder can change).
def _pg_names(with_folders: bool) -> str:
    what = "f.name || ' ' || coalesce(f.folder, '')" if with_folders else "f.name"
    return (f"coalesce((SELECT string_agg({what}, ' ' ORDER BY f.id) FROM files f"
            " WHERE f.image_id = i.id AND f.state = 'indexed'), '')")


def _pg_refresh_function(with_folders: bool) -> str:
    return f"""
    CREATE OR REPLACE FUNCTION search_fts_refresh(image integer) RETURNS void LANGUAGE sql AS $$
        DELETE FROM search_fts WHERE image_id = image;
        INSERT INTO search_fts (image_id, alt_text, name)
        SELECT i.id, c.text, {_pg_names(with_folders)}
        FROM images i JOIN captions c ON c.id = i.caption_id
        WHERE i.id = image
          AND EXISTS (SELECT 1 FROM files f WHERE f.image_id = i.id AND f.state = 'indexed');
    $$
    """


def _pg_files_update_trigger(with_folders: bool) -> str:
    columns = "state, image_id, name, folder" if with_folders else "state, image_id, name"
    return (f"CREATE TRIGGER files_fts_update AFTER UPDATE OF {columns} ON files"
            " FOR EACH ROW EXECUTE FUNCTION search_fts_files()")


def _pg_rebuild_search_table(with_folders: bool) -> None:
    op.execute("DELETE FROM search_fts")
    op.execute(f"""
        INSERT INTO search_fts (image_id, alt_text, name)
        SELECT i.id, c.text, {_pg_names(with_folders)}
        FROM images i JOIN captions c ON c.id = i.caption_id
        WHERE EXISTS (SELECT 1 FROM files f WHERE f.image_id = i.id AND f.state = 'indexed')
    """)


def _pg_search_names(with_folders: bool) -> None:
    """The refresh function with the folders or without, and the files trigger watching folder or not."""
    op.execute("DROP TRIGGER IF EXISTS files_fts_update ON files")
    op.execute(_pg_refresh_function(with_folders))
    op.execute(_pg_files_update_trigger(with_folders))


def _add_columns() -> None:
    op.execute("ALTER TABLE files ADD COLUMN folder TEXT")
    op.execute("ALTER TABLE files ADD COLUMN taken_at VARCHAR(19)")
    # (taken_at, image_id): a date range, and the id span of its images, read from the index alone
    op.execute("CREATE INDEX ix_files_taken_at ON files (taken_at, image_id)")


def _upgrade_postgresql() -> None:
    _add_columns()
    # Before the trigger watches folder: the backfill must not rebuild a search row per file.
    _fill_folders()
    _pg_search_names(with_folders=True)
    _pg_rebuild_search_table(with_folders=True)


def _downgrade_postgresql() -> None:
    _pg_search_names(with_folders=False)  # first: the function must stop naming files.folder
    op.execute("DROP INDEX IF EXISTS ix_files_taken_at")
    op.execute("ALTER TABLE files DROP COLUMN taken_at")
    op.execute("ALTER TABLE files DROP COLUMN folder")
    _pg_rebuild_search_table(with_folders=False)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
        return
    _drop_triggers()  # first: the backfill below must not rebuild a search row per file
    # Plain ALTER TABLE, not batch mode: a table copy would drop the triggers and take far longer.
    _add_columns()
    _fill_folders()
    _create_triggers(with_folders=True)
    _rebuild_search_table(with_folders=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _downgrade_postgresql()
        return
    _drop_triggers()
    op.execute("DROP INDEX IF EXISTS ix_files_taken_at")
    op.execute("ALTER TABLE files DROP COLUMN taken_at")
    op.execute("ALTER TABLE files DROP COLUMN folder")
    _create_triggers(with_folders=False)
    _rebuild_search_table(with_folders=False)
