"""Sentence embeddings of captions, for semantic search (optional extra `semantic`).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

One row per embedded caption: the vector as raw little-endian float32 bytes (384 x 4 = 1,536 bytes for
all-MiniLM-L6-v2), unit length so that cosine similarity is a dot product. Keyed by caption, not image:
a new caption (an edit, a new model) simply has no vector yet and is picked up by the next
``compute_pending_vectors`` (alttext/search/vectors.py). A trigger drops the vector when a caption's
text is changed in place, so a stale vector can never be searched. Hand-written SQL, like 0001: nothing
here touches the FTS table or its triggers.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQL = [
    """
    CREATE TABLE caption_embeddings (
        caption_id INTEGER NOT NULL PRIMARY KEY REFERENCES captions (id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        dim INTEGER NOT NULL,
        vector BLOB NOT NULL,
        created_at DATETIME NOT NULL
    )
    """,
    """
    CREATE TRIGGER caption_embeddings_stale AFTER UPDATE OF text ON captions
    WHEN new.text IS NOT old.text
    BEGIN
        DELETE FROM caption_embeddings WHERE caption_id = new.id;
    END
    """,
]

# PostgreSQL: bytea for the vector, timestamp for the time, the trigger through a PL/pgSQL function.
PG_SQL = [
    """
    CREATE TABLE caption_embeddings (
        caption_id integer NOT NULL PRIMARY KEY REFERENCES captions (id) ON DELETE CASCADE,
        model text NOT NULL,
        dim integer NOT NULL,
        vector bytea NOT NULL,
        created_at timestamp NOT NULL
    )
    """,
    """
    CREATE FUNCTION caption_embeddings_stale() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM caption_embeddings WHERE caption_id = NEW.id;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER caption_embeddings_stale AFTER UPDATE OF text ON captions
    FOR EACH ROW WHEN (NEW.text IS DISTINCT FROM OLD.text) EXECUTE FUNCTION caption_embeddings_stale()
    """,
]


def upgrade() -> None:
    for statement in PG_SQL if op.get_bind().dialect.name == "postgresql" else SQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS caption_embeddings_stale ON captions")
        op.execute("DROP FUNCTION IF EXISTS caption_embeddings_stale()")
    else:
        op.execute("DROP TRIGGER IF EXISTS caption_embeddings_stale")
    op.execute("DROP TABLE IF EXISTS caption_embeddings")
