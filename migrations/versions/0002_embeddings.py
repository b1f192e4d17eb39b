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


def upgrade() -> None:
    for statement in SQL:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS caption_embeddings_stale")
    op.execute("DROP TABLE IF EXISTS caption_embeddings")
