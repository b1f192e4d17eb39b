"""Images keyed by their compressed picture data: a ``content_hash`` column beside ``pixel_hash``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

Until now an image's key was the hash of its decoded pixels, which costs a full decode of every new
photo. New images are keyed by the hash of their compressed picture data and orientation
(docs/architecture.md §2). Existing rows keep their pixel hash and get a NULL ``content_hash``: nothing
is re-captioned. Ingest fills it from the bytes of files that have not changed since they were decoded
(``index/content_backfill.py``), and until every old image has one it also hashes the pixels of new
files, so a copy or a metadata-only edit of an old photo still finds its caption.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN and CREATE INDEX leave the table (and its FTS triggers) as they are; no batch rebuild.
    op.add_column("images", sa.Column("content_hash", sa.String(64), nullable=True))
    op.create_index("ix_images_content_hash", "images", ["content_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_images_content_hash", table_name="images")
    op.execute("ALTER TABLE images DROP COLUMN content_hash")
