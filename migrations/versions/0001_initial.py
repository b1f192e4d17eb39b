"""Initial schema: roots, images, captions, files, variants, jobs, and the FTS5 search table.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

The FTS5 table and its triggers are hand-written SQL: autogenerate does not see virtual tables, and
batch_alter_table would drop the triggers. tests/test_migrations.py checks they exist after upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from alttext.index.models import FsPath, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# One search row per captioned image that has at least one present file: its alt text and the names
# of its files. Keyed by image id so every trigger finds its row by rowid equality (an FTS5
# "rowid IN (subquery)" scans the whole table: quadratic at a million rows).


def _refresh(image_id: str) -> str:
    """SQL that rebuilds the search row of one image (the expression names it, e.g. new.image_id)."""
    return f"""
        DELETE FROM search_fts WHERE rowid = {image_id};
        INSERT INTO search_fts(rowid, alt_text, name)
        SELECT i.id, c.text,
               (SELECT group_concat(f.name, ' ') FROM files f WHERE f.image_id = i.id AND f.state = 'indexed')
        FROM images i JOIN captions c ON c.id = i.caption_id
        WHERE i.id = {image_id}
          AND EXISTS (SELECT 1 FROM files f WHERE f.image_id = i.id AND f.state = 'indexed');
    """


FTS_SQL = [
    """
    CREATE VIRTUAL TABLE search_fts USING fts5(
        alt_text, name, tokenize = 'porter unicode61 remove_diacritics 2'
    )
    """,
    f"""
    CREATE TRIGGER files_fts_insert AFTER INSERT ON files WHEN new.image_id IS NOT NULL
    BEGIN {_refresh("new.image_id")} END
    """,
    f"""
    CREATE TRIGGER files_fts_delete AFTER DELETE ON files WHEN old.image_id IS NOT NULL
    BEGIN {_refresh("old.image_id")} END
    """,
    f"""
    CREATE TRIGGER files_fts_update AFTER UPDATE OF state, image_id, name ON files
    WHEN old.image_id IS NOT NULL OR new.image_id IS NOT NULL
    BEGIN {_refresh("old.image_id")} {_refresh("new.image_id")} END
    """,
    f"""
    CREATE TRIGGER images_fts_caption AFTER UPDATE OF caption_id ON images
    BEGIN {_refresh("new.id")} END
    """,
    f"""
    CREATE TRIGGER captions_fts_text AFTER UPDATE OF text ON captions
    BEGIN {_refresh("new.image_id")} END
    """,
]

FTS_TRIGGERS = ("files_fts_insert", "files_fts_delete", "files_fts_update", "images_fts_caption", "captions_fts_text")

# PostgreSQL (docs/architecture.md §12): the same search rows in a plain table, its tsvector a
# generated column under a GIN index, in the text search configuration 'alttext': PostgreSQL's 'english'
# (Snowball stemmer; SQLite uses Porter) with diacritics folded by the unaccent extension where the server
# has it (remove_diacritics on SQLite); file names split at every non-alphanumeric character as FTS5's
# unicode61 tokenizer does. PL/pgSQL triggers keep it current, exactly like the SQLite triggers above.
PG_CONFIG_SQL = "CREATE TEXT SEARCH CONFIGURATION alttext (COPY = english)"
PG_UNACCENT_SQL = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "ALTER TEXT SEARCH CONFIGURATION alttext ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem",
]
PG_FTS_SQL = [
    """
    CREATE TABLE search_fts (
        image_id integer PRIMARY KEY,
        alt_text text NOT NULL,
        name text NOT NULL DEFAULT '',
        document tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('alttext'::regconfig, alt_text), 'A')
            || setweight(to_tsvector('alttext'::regconfig,
                                     regexp_replace(name, '[^[:alnum:]]+', ' ', 'g')), 'B')
        ) STORED
    )
    """,
    "CREATE INDEX ix_search_fts_document ON search_fts USING gin (document)",
    """
    CREATE FUNCTION search_fts_refresh(image integer) RETURNS void LANGUAGE sql AS $$
        DELETE FROM search_fts WHERE image_id = image;
        INSERT INTO search_fts (image_id, alt_text, name)
        SELECT i.id, c.text,
               coalesce((SELECT string_agg(f.name, ' ' ORDER BY f.id) FROM files f
                         WHERE f.image_id = i.id AND f.state = 'indexed'), '')
        FROM images i JOIN captions c ON c.id = i.caption_id
        WHERE i.id = image
          AND EXISTS (SELECT 1 FROM files f WHERE f.image_id = i.id AND f.state = 'indexed');
    $$
    """,
    """
    CREATE FUNCTION search_fts_files() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.image_id IS NOT NULL THEN
            PERFORM search_fts_refresh(OLD.image_id);
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.image_id IS NOT NULL THEN
            PERFORM search_fts_refresh(NEW.image_id);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION search_fts_image() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM search_fts_refresh(NEW.id);
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION search_fts_caption() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM search_fts_refresh(NEW.image_id);
        RETURN NULL;
    END
    $$
    """,
    "CREATE TRIGGER files_fts_insert AFTER INSERT ON files FOR EACH ROW EXECUTE FUNCTION search_fts_files()",
    "CREATE TRIGGER files_fts_delete AFTER DELETE ON files FOR EACH ROW EXECUTE FUNCTION search_fts_files()",
    """CREATE TRIGGER files_fts_update AFTER UPDATE OF state, image_id, name ON files
       FOR EACH ROW EXECUTE FUNCTION search_fts_files()""",
    """CREATE TRIGGER images_fts_caption AFTER UPDATE OF caption_id ON images
       FOR EACH ROW EXECUTE FUNCTION search_fts_image()""",
    """CREATE TRIGGER captions_fts_text AFTER UPDATE OF text ON captions
       FOR EACH ROW EXECUTE FUNCTION search_fts_caption()""",
    # SQLite reads a unary + before a column as "don't use an index for this" (the queries use it as a
    # planner hint); PostgreSQL has no + for text or bytea (paths). Identity operators make the same SQL
    # run on both (an SQL function this simple is inlined: the planner sees the bare column).
    *(f"CREATE FUNCTION alttext_identity({kind}) RETURNS {kind} LANGUAGE sql IMMUTABLE PARALLEL SAFE"
      f" AS 'SELECT $1'" for kind in ("text", "bytea")),
    *(f"CREATE OPERATOR + (RIGHTARG = {kind}, FUNCTION = alttext_identity)" for kind in ("text", "bytea")),
]
PG_FTS_DROP = [
    *(f"DROP OPERATOR IF EXISTS + (NONE, {kind})" for kind in ("text", "bytea")),
    *(f"DROP FUNCTION IF EXISTS alttext_identity({kind})" for kind in ("text", "bytea")),
    *(f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table in (
        ("files_fts_insert", "files"), ("files_fts_delete", "files"), ("files_fts_update", "files"),
        ("images_fts_caption", "images"), ("captions_fts_text", "captions"))),
    "DROP FUNCTION IF EXISTS search_fts_files()",
    "DROP FUNCTION IF EXISTS search_fts_image()",
    "DROP FUNCTION IF EXISTS search_fts_caption()",
    "DROP FUNCTION IF EXISTS search_fts_refresh(integer)",
    "DROP TABLE IF EXISTS search_fts",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS alttext",
]


def _postgres_search_config() -> None:
    """The 'alttext' configuration; with unaccent when this server has the extension and lets the owner
    create it (a trusted extension since PostgreSQL 13), else without (then "café" != "cafe")."""
    op.execute(PG_CONFIG_SQL)
    usable = op.get_bind().execute(sa.text(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent')"
        " AND has_database_privilege(current_database(), 'CREATE')"
    )).scalar()
    if usable:
        for statement in PG_UNACCENT_SQL:
            op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "roots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", FsPath, nullable=False),
        sa.Column("added_at", UtcDateTime, nullable=False),
        sa.Column("last_scan_at", UtcDateTime),
        sa.UniqueConstraint("path", name="uq_roots_path"),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("pixel_hash", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("caption_id", sa.Integer),  # -> captions.id; SQLite can't add the cycle's FK later
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("pixel_hash", name="uq_images_pixel_hash"),
    )
    op.create_index("ix_images_caption_id", "images", ["caption_id"])
    op.create_table(
        "captions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("raw_text", sa.Text),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("model", sa.Text),
        sa.Column("model_revision", sa.String(64)),
        sa.Column("params", sa.JSON),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_captions_image_id", "captions", ["image_id"])
    op.create_table(
        "files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("root_id", sa.Integer, sa.ForeignKey("roots.id", ondelete="SET NULL")),
        sa.Column("path", FsPath, nullable=False),
        sa.Column("dir", FsPath, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("dev", sa.BigInteger, nullable=False),
        sa.Column("inode", sa.BigInteger, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id", ondelete="SET NULL")),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("seen_at", UtcDateTime, nullable=False),
        sa.Column("missing_since", UtcDateTime),
        sa.Column("indexed_at", UtcDateTime),
        sa.Column("embedded_caption_id", sa.Integer, sa.ForeignKey("captions.id", ondelete="SET NULL")),
        sa.Column("embedded_where", sa.Text),
        sa.Column("embedded_at", UtcDateTime),
        sa.UniqueConstraint("path", name="uq_files_path"),
    )
    for column in ("root_id", "dir", "inode", "state"):
        op.create_index(f"ix_files_{column}", "files", [column])
    # The search triggers look up "the present files of image X": with only single-column indexes the
    # planner (no ANALYZE statistics) picks ix_files_state and scans every indexed file.
    op.create_index("ix_files_image_id_state", "files", ["image_id", "state"])
    op.create_table(
        "variants",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("caption_id", sa.Integer, sa.ForeignKey("captions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("style", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("llm_model", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_variants_caption_id", "variants", ["caption_id"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_try_at", UtcDateTime, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_jobs_next_try_at", "jobs", ["next_try_at"])
    op.create_index("ix_jobs_kind_target_id", "jobs", ["kind", "target_id"])
    if op.get_bind().dialect.name == "postgresql":
        _postgres_search_config()
        for statement in PG_FTS_SQL:
            op.execute(statement)
        return
    for statement in FTS_SQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_FTS_DROP:
            op.execute(statement)
        for table in ("jobs", "variants", "files", "captions", "images", "roots"):
            op.drop_table(table)
        return
    for trigger in FTS_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS search_fts")
    for table in ("jobs", "variants", "files", "captions", "images", "roots"):
        op.drop_table(table)
