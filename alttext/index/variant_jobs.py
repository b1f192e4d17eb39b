"""Creative variants in the index: where they are stored, and the durable job queue that asks for them.

A variants job is a ``jobs`` row (``kind="variants"``, ``target_id`` = the caption id, ``payload`` =
``{"n": N, "style": S}``). Rules:

- One job per caption and style while it is waiting: enqueueing again updates ``n`` and reuses the row.
- Jobs run in ``next_try_at`` order once due. A job being worked on is *leased*: its ``next_try_at`` is
  pushed ``LEASE`` into the future in the claiming transaction, so a second worker (the daemon and a CLI
  run) skips it, and a worker that dies leaves it to be picked up again when the lease runs out.
- Success stores the variants (replacing this caption's earlier set in that style) and deletes the job.
- A transient failure (429, 5xx, timeout, connection error, too few usable variants) counts an attempt,
  records the redacted error in ``last_error`` and reschedules with exponential backoff
  (``retry_delay``); after ``MAX_ATTEMPTS`` attempts, or at once for a permanent failure (other 4xx,
  malformed replies), the job is parked with state ``failed``. ``request_variants`` (an explicit
  ``alttext variants`` run) re-arms a parked or backed-off job.
- Running into the client's per-run request cap is not an attempt: the job goes back to the queue, due
  now, and processing stops, leaving the rest queued for the next run.
- A job whose caption is gone, or is no longer its image's current caption, is dropped unrun.

Every write is a short transaction of its own; no transaction is open during an HTTP call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, select, update

from alttext.backoff import backoff_seconds
from alttext.index.db import Index
from alttext.index.models import captions, images, inserted_id, jobs, utcnow, variants
from alttext.redact import redact

if TYPE_CHECKING:
    from alttext.variants.protocols import ChatVariantsClient
    from alttext.variants.result import VariantResult

log = logging.getLogger(__name__)

JOB_KIND = "variants"
QUEUED, FAILED = "queued", "failed"

MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)
# Longer than one job can take (3 calls x 4 tries x 30 s timeout plus Retry-After waits).
LEASE = timedelta(minutes=15)


def retry_delay(attempts: int) -> timedelta:
    """Wait before the next try of a job that has failed ``attempts`` times: 1, 2, 4, 8 … minutes,
    at most 6 hours."""
    seconds = backoff_seconds(attempts, base=BACKOFF_BASE.total_seconds(), cap=BACKOFF_MAX.total_seconds())
    return timedelta(seconds=seconds)


# -- storage ---------------------------------------------------------------------------------------


def store_variants(connection: Connection, caption_id: int, result: VariantResult) -> int:
    """Store ``result.texts`` (a ``VariantResult``) as variants of caption ``caption_id`` with the
    result's model and style and the current time; returns the number of rows written.

    A successful result replaces the caption's earlier variants in that style. A failed result's partial
    texts are kept only where the caption has none in that style yet (they never replace a full set)."""
    texts = [text for text in result.texts if text]
    existing = select(func.count()).select_from(variants).where(
        variants.c.caption_id == caption_id, variants.c.style == result.style
    )
    if result.ok:
        connection.execute(
            delete(variants).where(variants.c.caption_id == caption_id, variants.c.style == result.style)
        )
    elif not texts or connection.execute(existing).scalar():
        return 0
    if not texts:
        return 0
    now = utcnow()
    connection.execute(
        insert(variants),
        [
            {"caption_id": caption_id, "style": result.style, "text": text, "llm_model": result.model,
             "created_at": now}
            for text in texts
        ],
    )
    return len(texts)


def variants_of(connection: Connection, caption_id: int, style: str | None = None) -> list[dict[str, Any]]:
    """Stored variants of a caption (optionally one style), oldest first, as show's ``variants`` list."""
    query = select(variants).where(variants.c.caption_id == caption_id)
    if style is not None:
        query = query.where(variants.c.style == style)
    return [
        {"text": row.text, "style": row.style, "model": row.llm_model,
         "created_at": row.created_at.isoformat() if row.created_at else None}
        for row in connection.execute(query.order_by(variants.c.id))
    ]


# -- the queue -------------------------------------------------------------------------------------


def _find_job(connection: Connection, caption_id: int, style: str) -> Any:
    rows = connection.execute(
        select(jobs).where(jobs.c.kind == JOB_KIND, jobs.c.target_id == caption_id).order_by(jobs.c.id)
    ).all()
    return next((row for row in rows if (row.payload or {}).get("style") == style), None)


def enqueue_variants(connection: Connection, caption_id: int, n: int, style: str) -> int:
    """Queue a variants job for caption ``caption_id`` (inside the caller's write transaction); returns
    the job id. Idempotent per caption and style while the job waits: the existing row is reused (with
    the new ``n``), its schedule and attempts untouched. A parked (``failed``) job is left parked; see
    ``request_variants`` to re-arm one."""
    from alttext.variants import normalise_style

    style = normalise_style(style)
    row = _find_job(connection, caption_id, style)
    if row is None:
        return inserted_id(
            connection.execute(
                insert(jobs).values(
                    kind=JOB_KIND, target_id=caption_id, attempts=0, next_try_at=utcnow(), state=QUEUED,
                    payload={"n": n, "style": style}, created_at=utcnow(),
                )
            )
        )
    if (row.payload or {}).get("n") != n:
        connection.execute(update(jobs).where(jobs.c.id == row.id).values(payload={"n": n, "style": style}))
    return int(row.id)


def request_variants(connection: Connection, caption_id: int, n: int, style: str) -> int:
    """An explicit request (``alttext variants``): like ``enqueue_variants``, but the job is due now
    with a fresh budget of attempts, even if it was backing off or parked as failed."""
    job_id = enqueue_variants(connection, caption_id, n, style)
    connection.execute(
        update(jobs).where(jobs.c.id == job_id).values(state=QUEUED, attempts=0, next_try_at=utcnow())
    )
    return job_id


# -- running jobs ----------------------------------------------------------------------------------


@dataclass
class JobOutcome:
    job_id: int
    caption_id: int
    style: str
    status: str  # done | retrying | failed | dropped | capped | lost
    error: str | None = None
    requests: int = 0
    next_try_at: str | None = None


@dataclass
class VariantJobCounts:
    """What one ``process_variant_jobs`` call did."""

    done: int = 0  # variants stored, job finished
    retrying: int = 0  # failed, rescheduled with backoff
    failed: int = 0  # failed, parked (permanent error or out of attempts)
    dropped: int = 0  # caption gone or no longer current: nothing to do
    lost: int = 0  # a worker's result not stored: its claim had passed to another (§16)
    requests: int = 0  # HTTP requests made
    capped: bool = False  # stopped at the client's request cap; the rest stay queued
    stopped: bool = False  # stopped because should_stop() said so
    outcomes: list[JobOutcome] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.done + self.retrying + self.failed + self.dropped

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Claimed:
    job_id: int
    caption_id: int
    caption: str
    n: int
    style: str
    attempts: int


def _claim_next(index: Index, job_ids: Collection[int] | None, counts: VariantJobCounts) -> _Claimed | None:
    """Lease the next due job (dropping obsolete ones on the way); None when nothing is due."""
    while True:
        with index.write() as connection:
            now = utcnow()
            # A job a worker holds is its own (§16): this run's lease is next_try_at, a worker's is lease_owner.
            query = select(jobs).where(jobs.c.kind == JOB_KIND, jobs.c.state == QUEUED, jobs.c.next_try_at <= now,
                                       jobs.c.lease_owner.is_(None))
            if job_ids is not None:
                query = query.where(jobs.c.id.in_(list(job_ids)))
            row = connection.execute(query.order_by(jobs.c.next_try_at, jobs.c.id).limit(1)).first()
            if row is None:
                return None
            claimed = _claimed_or_dropped(connection, row, counts)
            if claimed is None:
                continue
            connection.execute(update(jobs).where(jobs.c.id == row.id).values(next_try_at=now + LEASE))
            return claimed


def _claimed_or_dropped(connection: Connection, row: Any, counts: VariantJobCounts) -> _Claimed | None:
    """The job ``row`` with its caption's current text; None when that caption is no longer its picture's
    (an edit, a new model caption) or is empty: then the job is obsolete and dropped."""
    current = connection.execute(
        select(captions.c.text).select_from(captions.join(images, images.c.id == captions.c.image_id))
        .where(captions.c.id == row.target_id, images.c.caption_id == captions.c.id)
    ).first()
    payload = row.payload or {}
    if current is None or not current.text:
        connection.execute(delete(jobs).where(jobs.c.id == row.id))
        counts.dropped += 1
        counts.outcomes.append(JobOutcome(row.id, row.target_id, str(payload.get("style")), "dropped"))
        return None
    return _Claimed(row.id, row.target_id, current.text, int(payload.get("n") or 3),
                    str(payload.get("style") or "catchy"), row.attempts)


def _without_credentials(result: VariantResult) -> VariantResult:
    """The client redacts its own key from what the server said; this catches the shapes of any other
    credential (a bearer token, a password in a URL) before a reply or an error is stored."""
    return replace(result, texts=[redact(text) for text in result.texts], model=redact(result.model),
                   error=redact(result.error) if result.error is not None else None)


def _finish(index: Index, job: _Claimed, result: VariantResult, counts: VariantJobCounts,
            owner: int | None = None) -> JobOutcome:
    """Record a result in one short transaction. ``owner``: the worker that claimed the job, which stores
    only while it still holds it (a compare-and-set, docs/architecture.md §16); without one, a job a worker
    has taken over meanwhile is left to that worker."""
    result = _without_credentials(result)
    with index.write() as connection:
        row = connection.execute(
            select(jobs.c.id, jobs.c.lease_owner).where(jobs.c.id == job.job_id).with_for_update()
        ).first()
        exists = row is not None
        if (row.lease_owner if row is not None else None) != owner:
            counts.lost += 1
            return JobOutcome(job.job_id, job.caption_id, job.style, "lost", requests=result.requests_made)
        if result.ok:
            store_variants(connection, job.caption_id, result)
            connection.execute(delete(jobs).where(jobs.c.id == job.job_id))
            counts.done += 1
            return JobOutcome(job.job_id, job.caption_id, job.style, "done", requests=result.requests_made)
        store_variants(connection, job.caption_id, result)  # partial texts, only where there are none
        now = utcnow()
        if result.error_kind == "request_cap":
            # Not the job's fault: back in the queue, due now, for the next run's budget.
            if exists:
                connection.execute(update(jobs).where(jobs.c.id == job.job_id).values(next_try_at=now,
                                                                                      lease_owner=None))
            counts.capped = True
            return JobOutcome(job.job_id, job.caption_id, job.style, "capped", result.error, result.requests_made)
        attempts = job.attempts + 1
        if result.transient and attempts < MAX_ATTEMPTS:
            next_try = now + retry_delay(attempts)
            values: dict[str, Any] = {"state": QUEUED, "next_try_at": next_try}
            status = "retrying"
            counts.retrying += 1
        else:
            next_try = None
            values = {"state": FAILED, "next_try_at": now}
            status = "failed"
            counts.failed += 1
        if exists:
            connection.execute(
                update(jobs).where(jobs.c.id == job.job_id)
                .values(attempts=attempts, last_error=result.error, lease_owner=None, **values)
            )
        # INFO: callers report outcomes themselves (the CLI per file; JobOutcome for the daemon).
        log.info(
            "variants for caption %d: %s (%s)", job.caption_id, result.error,
            f"retry after {next_try.isoformat(timespec='seconds')}" if next_try else "gave up",
        )
        return JobOutcome(job.job_id, job.caption_id, job.style, status, result.error, result.requests_made,
                          next_try.isoformat() if next_try else None)


def _failure(job: _Claimed, message: str, kind: str, model: str) -> VariantResult:
    from alttext.variants import VariantResult

    return VariantResult([], model=model, style=job.style, requests_made=0, error=message, n=job.n,
                         error_kind=kind, transient=False)


def _run_job(index: Index, client: ChatVariantsClient, job: _Claimed, counts: VariantJobCounts,
             owner: int | None = None) -> None:
    """Ask for one job's variants and record the outcome (stored only while ``owner``, if any, holds it)."""
    try:
        result = client.generate_variants(job.caption, job.n, job.style)
    except ValueError as exc:  # a payload no request can satisfy (bad n or style): park it
        result = _failure(job, f"invalid variants job: {exc}", "invalid", getattr(client, "model", "?"))
    outcome = _finish(index, job, result, counts, owner)
    counts.requests += outcome.requests
    counts.outcomes.append(outcome)


def run_variant_jobs(
    index: Index,
    client: ChatVariantsClient,
    *,
    job_ids: Collection[int] | None = None,
    limit: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_job: Callable[[int], None] | None = None,
) -> VariantJobCounts:
    """``process_variant_jobs``, optionally restricted to the jobs ``job_ids``; ``on_job(1)`` after each
    job (a progress bar)."""
    counts = VariantJobCounts()
    while limit is None or counts.processed < limit:
        if should_stop is not None and should_stop():
            counts.stopped = True
            break
        if getattr(client, "cap_reached", False):
            counts.capped = True
            break
        job = _claim_next(index, job_ids, counts)
        if job is None:
            break
        _run_job(index, client, job, counts)
        if on_job is not None:
            on_job(1)
        if counts.capped:
            break
    return counts


def _load_claimed(index: Index, job_id: int, owner: int, counts: VariantJobCounts) -> _Claimed | None:
    """A job a worker claimed, with its caption; None when it is no longer held, or obsolete (then dropped,
    as ``_claim_next`` does)."""
    with index.write() as connection:
        row = connection.execute(
            select(jobs).where(jobs.c.id == job_id, jobs.c.lease_owner == owner).with_for_update()
        ).first()
        if row is None:
            return None
        return _claimed_or_dropped(connection, row, counts)


def run_claimed_variant_jobs(
    index: Index,
    client: ChatVariantsClient,
    job_ids: list[int],
    owner: int,
    *,
    should_stop: Callable[[], bool] | None = None,
) -> VariantJobCounts:
    """Run the jobs worker ``owner`` claimed (index/leases.py ``claim_variant_jobs``): each result is stored
    only while the worker still holds the job. Jobs left when it stops or reaches the request cap are given
    back (``lease_owner`` NULL), due as they were."""
    counts = VariantJobCounts()
    left = list(job_ids)
    while left:
        if should_stop is not None and should_stop():
            counts.stopped = True
            break
        if getattr(client, "cap_reached", False):
            counts.capped = True
            break
        job = _load_claimed(index, left.pop(0), owner, counts)
        if job is None:
            continue
        _run_job(index, client, job, counts, owner)
        if counts.capped:
            break
    if left:
        with index.write() as connection:
            connection.execute(update(jobs).where(jobs.c.id.in_(left), jobs.c.lease_owner == owner)
                               .values(lease_owner=None))
    return counts


def process_variant_jobs(
    index: Index,
    client: ChatVariantsClient,
    *,
    limit: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> VariantJobCounts:
    """Run due variants jobs (oldest ``next_try_at`` first) with ``client`` (a ``VariantClient``) until
    none is due, ``limit`` jobs were handled, ``should_stop()`` returns true (checked before each job)
    or the client's request cap is reached (the rest stay queued). Never raises for call failures:
    they are recorded on the jobs (see the module docstring)."""
    return run_variant_jobs(index, client, limit=limit, should_stop=should_stop)


def job_state(connection: Connection, job_id: int) -> dict[str, Any] | None:
    """A job row as a dict (None once it is done and deleted)."""
    row = connection.execute(select(jobs).where(jobs.c.id == job_id)).first()
    return dict(row._mapping) if row is not None else None


def queue_variants(index: Index, caption_ids: Collection[int], n: int, style: str, *, explicit: bool = False
                   ) -> dict[int, int]:
    """One job per caption, in one short transaction; caption id -> job id. ``explicit`` (a person asked,
    ``alttext variants``) makes each job due now with a fresh budget (``request_variants``); otherwise a
    waiting job is reused as it is (``enqueue_variants``, what the daemon does for new captions)."""
    queue = request_variants if explicit else enqueue_variants
    with index.write() as connection:
        return {caption_id: queue(connection, caption_id, n, style) for caption_id in caption_ids}


def stored_variants(index: Index, caption_ids: Collection[int], style: str | None = None
                    ) -> dict[int, list[dict[str, Any]]]:
    """Caption id -> its stored variants (in ``style``, or all)."""
    with index.read() as connection:
        return {caption_id: variants_of(connection, caption_id, style) for caption_id in caption_ids}
