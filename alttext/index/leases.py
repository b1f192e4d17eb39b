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
- **Vectors and variants** are claimed the same way (migration 0010): pictures whose current caption has no
  vector (``images.vector_owner``, :func:`claim_vectors`) and due variants jobs (``jobs.lease_owner``,
  :func:`claim_variant_jobs`); released with the worker's files, stored only while held.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, DateTime, and_, func, insert, select, true, update
from sqlalchemy.sql.elements import ColumnElement

from alttext.index.db import Index
from alttext.index.models import (
    PENDING,
    WORKER_ACTIVE,
    WORKER_LOST,
    WORKER_STOPPED,
    captions,
    files,
    images,
    inserted_id,
    jobs,
    utcnow,
    workers,
)

# What `status` shows of the workers, in plain SQL (index/overview.py: no SQLAlchemy); importable from here too.
from alttext.index.overview import WorkerRow as WorkerRow
from alttext.index.overview import claimed_count as claimed_count
from alttext.index.overview import worker_rows as worker_rows
from alttext.index.variant_jobs import JOB_KIND as VARIANT_JOB_KIND
from alttext.index.variant_jobs import QUEUED as VARIANT_QUEUED

logger = logging.getLogger(__name__)


# The kinds of work a worker takes (``alttext worker --jobs``), in the order it does them.
CAPTIONS, VECTORS, VARIANTS = "captions", "vectors", "variants"
KINDS = (CAPTIONS, VECTORS, VARIANTS)


def vector_pending(dialect: str) -> ColumnElement[bool]:
    """A picture whose current caption has no vector: the predicate of ``ix_images_vector_pending``, written
    as it is there (migration 0010): SQLite uses a partial index only when the query repeats its terms;
    PostgreSQL estimates the share from the statistics on the expression only when it is tested whole."""
    pending = and_(images.c.caption_id.is_not(None), images.c.vectored_caption_id.is_distinct_from(images.c.caption_id))
    return pending.is_(true()) if dialect == "postgresql" else pending


def variants_queued() -> ColumnElement[bool]:
    """A waiting variants job: the predicate of ``ix_jobs_variants_due``."""
    return (jobs.c.kind == VARIANT_JOB_KIND) & (jobs.c.state == VARIANT_QUEUED)


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


def register_worker(index: Index, identity: WorkerIdentity, lease: timedelta, kinds: tuple[str, ...] = (CAPTIONS,)
                    ) -> int:
    """A new ``workers`` row, active, its lease running ``lease`` from now, taking ``kinds`` of work; its id."""
    with index.claim() as connection:
        now = database_now(connection)
        return inserted_id(connection.execute(insert(workers).values(
            host=identity.host, pid=identity.pid, model=identity.model, state=WORKER_ACTIVE, started_at=now,
            last_seen=now, lease_until=now + lease, files_done=0, images_done=0, kinds=",".join(kinds),
            vectors_done=0, variants_done=0,
        )))


def renew_lease(index: Index, worker_id: int, lease: timedelta, *, files_done: int, images_done: int,
                vectors_done: int = 0, variants_done: int = 0) -> bool:
    """Push the worker's lease ``lease`` ahead and record what it did; False when it was lost meanwhile."""
    with index.claim() as connection:
        now = database_now(connection)
        row = connection.execute(
            update(workers).where(workers.c.id == worker_id, workers.c.state == WORKER_ACTIVE)
            .values(last_seen=now, lease_until=now + lease, files_done=files_done, images_done=images_done,
                    vectors_done=vectors_done, variants_done=variants_done)
            .returning(workers.c.id)
        ).first()
    return row is not None


def _release(connection: Connection, owners: list[int]) -> int:
    """Give back everything ``owners`` hold, in whatever state it is now: files (a claimed file that went
    missing may come back pending), pictures waiting for a vector (or that lost their caption meanwhile and
    may get a new one), variants jobs; how many pending files. Each statement reads an index of the held rows
    only (``ix_*_leased``, ``ix_images_vector_owner``)."""
    states = connection.execute(
        update(files).where(files.c.lease_owner.is_not(None), files.c.lease_owner.in_(owners))
        .values(lease_owner=None).returning(files.c.state)
    ).scalars().all()
    connection.execute(update(images).where(images.c.vector_owner.is_not(None), images.c.vector_owner.in_(owners))
                       .values(vector_owner=None))
    connection.execute(update(jobs).where(jobs.c.lease_owner.is_not(None), jobs.c.lease_owner.in_(owners))
                       .values(lease_owner=None))
    return sum(1 for state in states if state == PENDING)


def release_lapsed(index: Index) -> int:
    """Mark every active worker whose lease has run out as lost and release its claims (files, vectors,
    variants jobs) for others to take; how many files were released. A read first, so the write lock is
    taken only when some lapsed."""
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
        released = _release(connection, lost)
    logger.warning("worker%s %s stopped renewing %s lease; %d file%s handed on", "s" if len(lost) > 1 else "",
                   ", ".join(map(str, lost)), "their" if len(lost) > 1 else "its", released,
                   "" if released == 1 else "s")
    return int(released)


def release_files(index: Index, worker_id: int) -> int:
    """Give back what the worker holds: files, vectors, variants jobs (at the start of a round: what an
    interrupted one left); how many files."""
    with index.write() as connection:
        return _release(connection, [worker_id])


def retire_worker(index: Index, worker_id: int, *, files_done: int, images_done: int, vectors_done: int = 0,
                  variants_done: int = 0) -> None:
    """A clean exit: the worker's claims go back to the queue, its row stays (``stopped``) for ``status``."""
    with index.write() as connection:
        _release(connection, [worker_id])
        connection.execute(
            update(workers).where(workers.c.id == worker_id, workers.c.state == WORKER_ACTIVE)
            .values(state=WORKER_STOPPED, last_seen=database_now(connection), files_done=files_done,
                    images_done=images_done, vectors_done=vectors_done, variants_done=variants_done)
        )


def _lock_active(connection: Connection, worker_id: int) -> None:
    """Lock the worker's row against a concurrent release_lapsed until the claim commits (§16); LeaseLost
    when it is no longer active."""
    state = connection.execute(
        select(workers.c.state).where(workers.c.id == worker_id).with_for_update(read=True)
    ).scalar()
    if state != WORKER_ACTIVE:
        raise LeaseLost(f"worker {worker_id} is {state or 'gone'}")


def claim_files(index: Index, worker_id: int, limit: int) -> list[tuple[int, str]]:
    """Claim up to ``limit`` unclaimed pending files, lowest ids first; their (id, path). Raises
    :class:`LeaseLost` when the worker is no longer active."""
    with index.claim() as connection:
        _lock_active(connection, worker_id)
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


@dataclass(frozen=True, order=True)
class VectorClaim:
    image_id: int
    caption_id: int
    text: str


def claim_vectors(index: Index, worker_id: int, limit: int) -> list[VectorClaim]:
    """Claim up to ``limit`` unclaimed pictures whose current caption has no vector, lowest ids first: an
    index range on ``ix_images_vector_pending`` however many captions are done. Raises :class:`LeaseLost`."""
    with index.claim() as connection:
        _lock_active(connection, worker_id)
        ids = list(connection.execute(
            select(images.c.id).where(vector_pending(connection.dialect.name), images.c.vector_owner.is_(None))
            .order_by(images.c.id).limit(limit).with_for_update(skip_locked=True)
        ).scalars())
        if not ids:
            return []
        connection.execute(update(images).where(images.c.id.in_(ids)).values(vector_owner=worker_id))
        rows = connection.execute(
            select(images.c.id, captions.c.id.label("caption_id"), captions.c.text)
            .select_from(images.join(captions, captions.c.id == images.c.caption_id)).where(images.c.id.in_(ids))
        ).all()
    return sorted(VectorClaim(int(row.id), int(row.caption_id), row.text) for row in rows)


def settle_vectors(connection: Connection, worker_id: int, claimed: list[VectorClaim]) -> set[int]:
    """Inside the transaction that stores the vectors: the caption ids still to be stored, those of the
    pictures this worker still holds whose current caption is still the one embedded (a compare-and-set);
    the claims on them are given back (the store marks the picture done)."""
    by_image = {claim.image_id: claim.caption_id for claim in claimed}
    held = connection.execute(
        select(images.c.id, images.c.caption_id)
        .where(images.c.id.in_(list(by_image)), images.c.vector_owner == worker_id).with_for_update()
    ).all()
    if held:
        connection.execute(update(images).where(images.c.id.in_([row.id for row in held])).values(vector_owner=None))
    return {int(row.caption_id) for row in held if row.caption_id == by_image[row.id]}


def claim_variant_jobs(index: Index, worker_id: int, limit: int, now: Any) -> list[int]:
    """Claim up to ``limit`` due variants jobs nobody holds, oldest due first (``now``: variant_jobs' clock,
    the one ``next_try_at`` is written by); their ids. A watcher's own run leases a job by pushing
    ``next_try_at`` ahead, so a job it runs is not due here. Raises :class:`LeaseLost`."""
    with index.claim() as connection:
        _lock_active(connection, worker_id)
        ids = list(connection.execute(
            select(jobs.c.id).where(variants_queued(), jobs.c.lease_owner.is_(None), jobs.c.next_try_at <= now)
            .order_by(jobs.c.next_try_at, jobs.c.id).limit(limit).with_for_update(skip_locked=True)
        ).scalars())
        if ids:
            connection.execute(update(jobs).where(jobs.c.id.in_(ids)).values(lease_owner=worker_id))
    return ids


def active_worker_kinds(index: Index) -> set[str]:
    """The kinds of work the active workers whose lease still runs take (a watcher leaves those to them)."""
    with index.read() as connection:
        rows = connection.execute(
            select(workers.c.kinds).where(workers.c.state == WORKER_ACTIVE,
                                          workers.c.lease_until >= database_now(connection)).distinct()
        ).scalars()
        return {kind for row in rows for kind in (row or "").split(",") if kind}


# -- for status ---------------------------------------------------------------------------------------


def workers_progress(index: Index) -> int:
    """Files indexed by all workers ever registered: a number that grows whenever some worker stored
    something (a watcher that only queues looks at it to know when to run what follows indexing)."""
    with index.read() as connection:
        return int(connection.execute(select(func.coalesce(func.sum(workers.c.files_done), 0))).scalar() or 0)
