"""Workers and their leases on pending files: the queue, lock manager and store are the database itself
(docs/architecture.md §16).

- A worker registers (a ``workers`` row: host, pid, model, started, last seen) and holds one **lease**,
  ``workers.lease_until``, by the database's clock (machines' clocks differ). Renewing it is one UPDATE of
  that row, however many files the worker holds.
- A **claim** marks up to N unclaimed pending files ``lease_owner = worker`` in one short transaction: ``SELECT
  … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so claimers never wait for each other, and outside the advisory
  write lock (:meth:`Index.claim`); on SQLite the same statements under its one writer. It first locks the
  worker's own row (``FOR SHARE``) and refuses if the worker is no longer active, so a worker whose lease was
  taken can't claim under its old id.
- A worker whose lease ran out is **lost**: whoever notices (any worker's heartbeat, or a scan) marks it so
  and releases its pending files in one write, and others claim them. A lost worker that comes back learns it
  at its next heartbeat and registers anew (a new id), so nothing it held before can match again.
- A **result** is stored only for the files the worker still holds: :meth:`LeasedClaims.held` locks and checks
  ``lease_owner`` inside the transaction that stores it (a compare-and-set). That is what keeps a worker
  resumed after SIGSTOP from overwriting the result of the one that took its files over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, DateTime, func, insert, select, update

from alttext.index.db import Index
from alttext.index.models import (
    PENDING,
    WORKER_ACTIVE,
    WORKER_LOST,
    WORKER_STOPPED,
    files,
    inserted_id,
    utcnow,
    workers,
)

# What `status` shows of the workers, in plain SQL (index/overview.py: no SQLAlchemy); importable from here too.
from alttext.index.overview import WorkerRow as WorkerRow
from alttext.index.overview import claimed_count as claimed_count
from alttext.index.overview import worker_rows as worker_rows

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """The worker's lease ran out and its files were handed on: it must register again."""


def database_now(connection: Connection) -> Any:
    """Now, by the database's clock, as naive UTC (how times are stored): PostgreSQL's own clock, so that
    workers on machines whose clocks differ agree on when a lease ends; SQLite's is this machine's."""
    if connection.dialect.name == "postgresql":
        return func.timezone("utc", func.now(), type_=DateTime())
    return utcnow()


@dataclass(frozen=True)
class WorkerIdentity:
    host: str
    pid: int
    model: str | None


def register_worker(index: Index, identity: WorkerIdentity, lease: timedelta) -> int:
    """A new ``workers`` row, active, its lease running ``lease`` from now; its id."""
    with index.claim() as connection:
        now = database_now(connection)
        return inserted_id(connection.execute(insert(workers).values(
            host=identity.host, pid=identity.pid, model=identity.model, state=WORKER_ACTIVE, started_at=now,
            last_seen=now, lease_until=now + lease, files_done=0, images_done=0,
        )))


def renew_lease(index: Index, worker_id: int, lease: timedelta, *, files_done: int, images_done: int) -> bool:
    """Push the worker's lease ``lease`` ahead and record what it did; False when it was lost meanwhile."""
    with index.claim() as connection:
        now = database_now(connection)
        row = connection.execute(
            update(workers).where(workers.c.id == worker_id, workers.c.state == WORKER_ACTIVE)
            .values(last_seen=now, lease_until=now + lease, files_done=files_done, images_done=images_done)
            .returning(workers.c.id)
        ).first()
    return row is not None


def release_lapsed(index: Index) -> int:
    """Mark every active worker whose lease has run out as lost and release its pending files for others
    to claim; how many files were released. A read first, so the write lock is taken only when some lapsed."""
    with index.read() as connection:
        lapsed = connection.execute(
            select(workers.c.id).where(workers.c.state == WORKER_ACTIVE,
                                       workers.c.lease_until < database_now(connection)).limit(1)
        ).first()
    if lapsed is None:
        return 0
    with index.write() as connection:
        lost = list(connection.execute(
            update(workers).where(workers.c.state == WORKER_ACTIVE, workers.c.lease_until < database_now(connection))
            .values(state=WORKER_LOST).returning(workers.c.id)
        ).scalars())
        if not lost:
            return 0
        released = connection.execute(
            update(files).where(files.c.state == PENDING, files.c.lease_owner.in_(lost)).values(lease_owner=None)
        ).rowcount
    logger.warning("worker%s %s stopped renewing %s lease; %d file%s handed on", "s" if len(lost) > 1 else "",
                   ", ".join(map(str, lost)), "their" if len(lost) > 1 else "its", released,
                   "" if released == 1 else "s")
    return int(released)


def release_files(index: Index, worker_id: int) -> int:
    """Give back the pending files the worker holds (at the start of a round: what an interrupted one left)."""
    with index.write() as connection:
        return int(connection.execute(
            update(files).where(files.c.state == PENDING, files.c.lease_owner == worker_id).values(lease_owner=None)
        ).rowcount)


def retire_worker(index: Index, worker_id: int, *, files_done: int, images_done: int) -> None:
    """A clean exit: the worker's files go back to the queue, its row stays (``stopped``) for ``status``."""
    with index.write() as connection:
        connection.execute(
            update(files).where(files.c.state == PENDING, files.c.lease_owner == worker_id).values(lease_owner=None)
        )
        connection.execute(
            update(workers).where(workers.c.id == worker_id, workers.c.state == WORKER_ACTIVE)
            .values(state=WORKER_STOPPED, last_seen=database_now(connection), files_done=files_done,
                    images_done=images_done)
        )


def claim_files(index: Index, worker_id: int, limit: int) -> list[tuple[int, str]]:
    """Claim up to ``limit`` unclaimed pending files, lowest ids first; their (id, path). Raises
    :class:`LeaseLost` when the worker is no longer active."""
    with index.claim() as connection:
        # Locks the worker's row against a concurrent release_lapsed until this claim commits (§16).
        state = connection.execute(
            select(workers.c.state).where(workers.c.id == worker_id).with_for_update(read=True)
        ).scalar()
        if state != WORKER_ACTIVE:
            raise LeaseLost(f"worker {worker_id} is {state or 'gone'}")
        ids = list(connection.execute(
            select(files.c.id).where(files.c.state == PENDING, files.c.lease_owner.is_(None))
            .order_by(files.c.id).limit(limit).with_for_update(skip_locked=True)
        ).scalars())
        if not ids:
            return []
        rows = connection.execute(
            update(files).where(files.c.id.in_(ids)).values(lease_owner=worker_id)
            .returning(files.c.id, files.c.path)
        ).all()
    return sorted((int(row.id), row.path) for row in rows)


class LeasedClaims:
    """An ingest's :class:`~alttext.index.ingest.PendingSource` for a worker: claims, and stores only what it
    still holds. ``worker_id`` is read at each call, so a worker that registered anew claims under its new id
    while results claimed under the old one are refused."""

    def __init__(self, index: Index, worker_id: Any) -> None:
        self.index = index
        self._worker_id = worker_id  # a callable giving the current id
        self._claimed_by: dict[int, int] = {}  # file id -> the worker id it was claimed under

    def fetch(self, want: int) -> list[tuple[int, str]]:
        worker_id = self._worker_id()
        rows = claim_files(self.index, worker_id, want)
        for file_id, _ in rows:
            self._claimed_by[file_id] = worker_id
        return rows

    def held(self, connection: Connection, file_ids: list[int]) -> set[int]:
        by_owner: dict[int, list[int]] = {}
        for file_id in file_ids:
            owner = self._claimed_by.pop(file_id, None)
            if owner is not None:
                by_owner.setdefault(owner, []).append(file_id)
        held: set[int] = set()
        for owner, ids in by_owner.items():
            held.update(connection.execute(
                select(files.c.id).where(files.c.id.in_(ids), files.c.lease_owner == owner, files.c.state == PENDING)
                .with_for_update()
            ).scalars())
        return held


# -- for status ---------------------------------------------------------------------------------------


def workers_progress(index: Index) -> int:
    """Files indexed by all workers ever registered: a number that grows whenever some worker stored
    something (a watcher that only queues looks at it to know when to run what follows indexing)."""
    with index.read() as connection:
        return int(connection.execute(select(func.coalesce(func.sum(workers.c.files_done), 0))).scalar() or 0)
