"""Caption workers over one index: the workers table and a lease on pending files (docs/architecture.md §16).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

``workers`` holds one row per running ``alttext worker`` registration (host, pid, model, when it started and was
last seen, its lease, what it did). ``files.lease_owner`` is the worker that claimed a pending file; the lease
itself is the worker's (``workers.lease_until``, renewed by one UPDATE however many files it holds). The
partial index on pending rows keeps a claim an index range at 10^7 files: unclaimed pending files in id
order (``lease_owner IS NULL``), or one worker's files.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from alttext.index.models import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("model", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("last_seen", UtcDateTime, nullable=False),
        sa.Column("lease_until", UtcDateTime, nullable=False),
        sa.Column("files_done", sa.Integer, nullable=False),
        sa.Column("images_done", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workers"),
    )
    op.create_index("ix_workers_state_lease_until", "workers", ["state", "lease_until"])
    # No foreign key: SQLite can't add one to an existing table without rebuilding it (and its triggers).
    op.add_column("files", sa.Column("lease_owner", sa.Integer, nullable=True))
    pending = sa.text("state = 'pending'")
    op.create_index("ix_files_pending_lease", "files", ["lease_owner", "id"], sqlite_where=pending,
                    postgresql_where=pending)


def downgrade() -> None:
    op.drop_index("ix_files_pending_lease", table_name="files")
    # Not batch mode: copying the table would drop the FTS triggers on files (SQLite >= 3.35 drops columns).
    op.execute("ALTER TABLE files DROP COLUMN lease_owner")
    op.drop_index("ix_workers_state_lease_until", table_name="workers")
    op.drop_table("workers")
