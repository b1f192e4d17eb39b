"""The index's own random identity, made once when the index is created (or upgraded to this revision).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Row ids start at 1 in every index, so an address such as ``/photo/42`` means a different photo in each
one. The browser app puts the start of this id into its photo addresses, so an address (a bookmark, a
stale tab, a link pasted from another library's app) that belongs to another index is refused instead of
showing, or changing, someone else's photo 42.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from alttext.index.models import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "index_identity",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "uid": uuid.uuid4().hex, "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("index_identity")
