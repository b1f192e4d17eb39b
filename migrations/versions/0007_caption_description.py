"""A long description stored beside each caption's alt text (docs/architecture.md §13).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

Prompt-driven models (Florence-2, chat vision-language models) can give both a short alt text and a long
description of the same picture; pixels-only models give alt text only, so the column is empty for them and
for every caption made before this revision (nothing is re-captioned).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("captions", sa.Column("description", sa.Text, nullable=True))


def downgrade() -> None:
    # Not batch mode: copying the table would drop the FTS triggers on captions (SQLite >= 3.35 drops columns).
    op.execute("ALTER TABLE captions DROP COLUMN description")
