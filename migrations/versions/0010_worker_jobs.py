"""Workers also claim vectors and variants work (docs/architecture.md §16).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-09

Vectors have no job row, so the queue is the images themselves: ``images.vectored_caption_id`` is the caption
whose vector was stored for the picture (set by every store, ``search/vectors.py``), so "needs a vector" is
``caption_id IS NOT NULL AND vectored_caption_id IS DISTINCT FROM caption_id``: a new current caption (an edit,
a new model caption) makes the picture pending with no write. A trigger clears it when the vector is deleted
(the 0002 trigger does that when a caption's text changes in place). ``images.vector_owner`` is the worker
that claimed it. The partial index on exactly that condition keeps a claim an index range at 10^7 captions
(unclaimed ones in id order, or one worker's), whatever the share already done.

Variants jobs get ``jobs.lease_owner``, and a partial index over queued variants jobs in due order.
``workers`` counts vectors and variants done, and records which kinds of work a worker takes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Written the same way as the claim's WHERE (index/leases.py ``vector_pending``): SQLite's planner matches a
# partial index term by term. PostgreSQL has no statistics for a comparison of two columns and guesses 99.5 %
# of the rows match, so it walked the primary key instead (230 ms at 3*10^5 pictures, 100 pending); statistics
# on the expression itself (CREATE STATISTICS, PostgreSQL >= 14) give it the true share when the query tests
# the expression whole (``IS TRUE``), and the claim becomes a scan of this index (0.5 ms).
PG_PENDING = "caption_id IS NOT NULL AND vectored_caption_id IS DISTINCT FROM caption_id"
VECTOR_PENDING = {"sqlite": "caption_id IS NOT NULL AND vectored_caption_id IS NOT caption_id",
                  "postgresql": f"({PG_PENDING}) IS TRUE"}
VARIANTS_QUEUED = "kind = 'variants' AND state = 'queued'"

SQLITE_TRIGGER = """
    CREATE TRIGGER images_vector_dropped AFTER DELETE ON caption_embeddings
    BEGIN
        UPDATE images SET vectored_caption_id = NULL
        WHERE caption_id = old.caption_id AND vectored_caption_id = old.caption_id;
    END
"""
PG_TRIGGER = [
    """
    CREATE FUNCTION images_vector_dropped() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE images SET vectored_caption_id = NULL
        WHERE caption_id = OLD.caption_id AND vectored_caption_id = OLD.caption_id;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER images_vector_dropped AFTER DELETE ON caption_embeddings
    FOR EACH ROW EXECUTE FUNCTION images_vector_dropped()
    """,
]


LEASED_INDEXES = {"files": "ix_files_leased", "images": "ix_images_vector_owner", "jobs": "ix_jobs_leased"}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("images", sa.Column("vectored_caption_id", sa.Integer, nullable=True))
    op.add_column("images", sa.Column("vector_owner", sa.Integer, nullable=True))
    # What is embedded already is done; one statement (images.caption_id is indexed, embeddings by caption).
    op.execute("UPDATE images SET vectored_caption_id = caption_id WHERE caption_id IS NOT NULL AND EXISTS"
               " (SELECT 1 FROM caption_embeddings e WHERE e.caption_id = images.caption_id)")
    pending = sa.text(VECTOR_PENDING["postgresql" if dialect == "postgresql" else "sqlite"])
    op.create_index("ix_images_vector_pending", "images", ["vector_owner", "id"], sqlite_where=pending,
                    postgresql_where=pending)
    for statement in PG_TRIGGER if dialect == "postgresql" else [SQLITE_TRIGGER]:
        op.execute(statement)
    if dialect == "postgresql":
        op.execute(f"CREATE STATISTICS images_vector_pending ON (({PG_PENDING})) FROM images")
        op.execute("ANALYZE images")  # a sample: the planner knows the share at once, not after autovacuum

    op.add_column("jobs", sa.Column("lease_owner", sa.Integer, nullable=True))
    queued = sa.text(VARIANTS_QUEUED)
    op.create_index("ix_jobs_variants_due", "jobs", ["lease_owner", "next_try_at", "id"], sqlite_where=queued,
                    postgresql_where=queued)

    # Releases give back whatever a worker holds, in any state (a claimed file may go missing and come back,
    # a claimed picture lose its caption and get a new one): indexes of the claimed rows only, a few per worker.
    leased = {"files": "lease_owner", "images": "vector_owner", "jobs": "lease_owner"}
    for table, column in leased.items():
        held = sa.text(f"{column} IS NOT NULL")
        op.create_index(LEASED_INDEXES[table], table, [column], sqlite_where=held, postgresql_where=held)

    op.add_column("workers", sa.Column("kinds", sa.Text, nullable=False, server_default="captions"))
    op.add_column("workers", sa.Column("vectors_done", sa.Integer, nullable=False, server_default="0"))
    op.add_column("workers", sa.Column("variants_done", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    # Not batch mode: copying a table would drop the FTS triggers (SQLite >= 3.35 drops columns).
    for column in ("variants_done", "vectors_done", "kinds"):
        op.execute(f"ALTER TABLE workers DROP COLUMN {column}")
    for table, name in LEASED_INDEXES.items():
        op.drop_index(name, table_name=table)
    op.drop_index("ix_jobs_variants_due", table_name="jobs")
    op.execute("ALTER TABLE jobs DROP COLUMN lease_owner")
    if dialect == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS images_vector_pending")
        op.execute("DROP TRIGGER IF EXISTS images_vector_dropped ON caption_embeddings")
        op.execute("DROP FUNCTION IF EXISTS images_vector_dropped()")
    else:
        op.execute("DROP TRIGGER IF EXISTS images_vector_dropped")
    op.drop_index("ix_images_vector_pending", table_name="images")
    op.execute("ALTER TABLE images DROP COLUMN vector_owner")
    op.execute("ALTER TABLE images DROP COLUMN vectored_caption_id")
