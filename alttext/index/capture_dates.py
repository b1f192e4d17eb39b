"""Capture dates for files indexed before the index stored them (migration 0005): read once from each
file's header (no decode, no model), in short batches; a rescan never re-reads a file that has its date
or is known to have none (docs/architecture.md §11)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import bindparam, select, update

from alttext.index.db import Index
from alttext.index.models import INDEXED, files
from alttext.metadata.capture_date import read_capture_date

BATCH = 500


def fill_missing_capture_dates(index: Index, *, should_stop: Callable[[], bool] | None = None) -> int:
    """Read the capture date of every indexed file that has never had it read; returns how many were read."""
    done, after = 0, 0
    while not (should_stop and should_stop()):
        with index.read() as connection:
            rows = connection.execute(
                select(files.c.id, files.c.path)
                .where(files.c.taken_at.is_(None), files.c.state == INDEXED, files.c.id > after)
                .order_by(files.c.id).limit(BATCH)
            ).all()
        if not rows:
            break
        after = rows[-1].id
        dates = [{"file_id": row.id, "taken": read_capture_date(row.path)} for row in rows]
        with index.write() as connection:
            connection.execute(
                update(files).where(files.c.id == bindparam("file_id"), files.c.taken_at.is_(None))
                .values(taken_at=bindparam("taken")),
                dates,
            )
        done += len(rows)
    return done
