"""An index on caption_embeddings by (model, dim, created_at), for the vector copy's freshness check.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

alttext/search/vector_copy.py keeps a memory-mapped copy of the vectors and, before each use, asks
which vectors were stored after it was built. With this index that costs a few microseconds a vector
stored since; without it SQLite reads every row, 1.5 KiB vector included (1.5 GiB at 10^6 captions).
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_caption_embeddings_model_dim_created"
        " ON caption_embeddings (model, dim, created_at, caption_id)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_caption_embeddings_model_dim_created")
