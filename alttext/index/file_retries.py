"""Retrying files that failed, with backoff, then parking them (visible as ``failed`` in ``alttext status``).

Ingest marks a file ``failed`` with its reason and counts ``attempts``. Each such file gets one ``jobs``
row of kind ``retry-file`` (durable: a restart keeps the schedule): ``queued`` with a ``next_try_at``
that backs off (1 min, 4 min, 16 min by default) while ``attempts < MAX_ATTEMPTS``, else ``parked``.
A due job puts the file back to ``pending``. A full reconcile scan re-queues failed files too (the rule
``alttext scan`` follows); the daemon still holds such a file back until its retry is due (see
:func:`backoffs`), unless the file changed on disk since it failed: a fixed photo needs no waiting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, insert, select, update

from alttext.backoff import backoff_seconds
from alttext.index.db import Index
from alttext.index.models import FAILED, PENDING, files, jobs, utcnow
from alttext.index.reconcile import MAX_ATTEMPTS

KIND = "retry-file"
QUEUED, PARKED = "queued", "parked"
MAX_DELAY = timedelta(hours=6)


@dataclass
class FailedFile:
    path: str
    error: str | None
    attempts: int
    retry_in: timedelta | None  # None: parked


def retry_delay(attempts: int, base: float) -> timedelta:
    return timedelta(seconds=backoff_seconds(attempts, base=base, factor=4, cap=MAX_DELAY.total_seconds()))


def schedule_failed(index: Index, *, base: float, now: datetime | None = None) -> list[FailedFile]:
    """Give every newly failed file its retry job (or park it); returns those files, for the log."""
    now = now or utcnow()
    has_job = exists(
        select(jobs.c.id).where(jobs.c.kind == KIND, jobs.c.target_id == files.c.id,
                                jobs.c.attempts == files.c.attempts)
    )
    reported: list[FailedFile] = []
    with index.write() as connection:
        # Jobs of files that are no longer failed (fixed, deleted from disk, re-queued by a scan).
        connection.execute(
            delete(jobs).where(
                jobs.c.kind == KIND,
                ~exists(select(files.c.id).where(files.c.id == jobs.c.target_id, files.c.state == FAILED)),
                jobs.c.state == PARKED,
            )
        )
        rows = connection.execute(
            select(files.c.id, files.c.path, files.c.error, files.c.attempts, files.c.dev, files.c.inode, files.c.size,
                   files.c.mtime_ns).where(files.c.state == FAILED, ~has_job)
        ).all()
        for row in rows:
            connection.execute(delete(jobs).where(jobs.c.kind == KIND, jobs.c.target_id == row.id))
            stat = [row.dev, row.inode, row.size, row.mtime_ns]
            parked = row.attempts >= MAX_ATTEMPTS
            delay = retry_delay(row.attempts, base)
            connection.execute(
                insert(jobs).values(
                    kind=KIND, target_id=row.id, attempts=row.attempts, next_try_at=now + delay,
                    state=PARKED if parked else QUEUED, last_error=row.error, created_at=now, payload={"stat": stat},
                )
            )
            reported.append(FailedFile(row.path, row.error, row.attempts, None if parked else delay))
    return reported


def release_due(index: Index, *, now: datetime | None = None) -> int:
    """Put the files whose retry is due back in the queue; returns how many."""
    now = now or utcnow()
    with index.write() as connection:
        due = connection.execute(
            select(jobs.c.id, jobs.c.target_id, jobs.c.attempts).where(
                jobs.c.kind == KIND, jobs.c.state == QUEUED, jobs.c.next_try_at <= now
            )
        ).all()
        released = 0
        for job in due:
            released += connection.execute(
                update(files)
                .where(and_(files.c.id == job.target_id, files.c.state == FAILED, files.c.attempts == job.attempts))
                .values(state=PENDING)
            ).rowcount
            connection.execute(delete(jobs).where(jobs.c.id == job.id))
    return released


def next_due(index: Index) -> datetime | None:
    with index.read() as connection:
        return connection.execute(
            select(func.min(jobs.c.next_try_at)).where(jobs.c.kind == KIND, jobs.c.state == QUEUED)
        ).scalar()


def hold_back(index: Index) -> int:
    """Put files that a reconcile scan re-queued while they wait for a retry back to ``failed``.

    The scan's rule (``alttext scan``: failed files are tried again while attempts remain) would
    otherwise retry them at every scan, whatever the backoff. A file that changed on disk since it
    failed stays queued: a fixed photo needs no waiting. Returns how many were held back.
    """
    with index.write() as connection:
        rows = connection.execute(
            select(files.c.id, files.c.dev, files.c.inode, files.c.size, files.c.mtime_ns, jobs.c.payload)
            .join(jobs, and_(jobs.c.target_id == files.c.id, jobs.c.kind == KIND, jobs.c.state == QUEUED,
                             jobs.c.attempts == files.c.attempts))
            .where(files.c.state == PENDING)
        ).all()
        held = [row.id for row in rows
                if (row.payload or {}).get("stat") == [row.dev, row.inode, row.size, row.mtime_ns]]
        if held:
            connection.execute(update(files).where(files.c.id.in_(held)).values(state=FAILED))
    return len(held)


def retry_now(index: Index, path: str) -> bool:
    """A person asks for a failed file to be tried again: back to the queue with a fresh count of
    attempts (the daemon or the next scan reads it). False when the file is not failed."""
    with index.write() as connection:
        row = connection.execute(
            select(files.c.id).where(files.c.path == os.path.abspath(path), files.c.state == FAILED)
        ).first()
        if row is None:
            return False
        connection.execute(delete(jobs).where(jobs.c.kind == KIND, jobs.c.target_id == row.id))
        connection.execute(update(files).where(files.c.id == row.id).values(state=PENDING, attempts=0))
    return True
