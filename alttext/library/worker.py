"""``alttext worker``: caption pending files claimed from a shared index, beside any number of others
(docs/architecture.md §16); and, among its kinds of work, sentence vectors for new captions and due variants
jobs, claimed the same way.

The loop: register; then, until stopped, give back what an interrupted round left, run an ingest whose
rows are claims (:class:`~alttext.index.leases.LeasedClaims`), then some claimed batches of vectors and of
variants jobs, and wait ``poll`` seconds when there was nothing to do. A heartbeat thread renews the
worker's lease every quarter of it, records its counts, and hands on the claims of workers that stopped
renewing theirs. The models run outside any transaction; each result is stored only if the worker still
holds its claim.

Reconnecting: any database error (a server restart, a dropped link, SQLite busy past its timeout) ends the
round, not the worker: one log line, a growing pause (1 s to a minute), and the round starts again; one line
when the database answers again. Files claimed before stay claimed by this worker (the lease outlives a short
outage) and are given back at the start of the next round.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from alttext.images import DEFAULT_MAX_PIXELS
from alttext.index.db import DatabaseError, Index
from alttext.index.ingest import ExistingReader, Ingester, IngestReport
from alttext.index.leases import (
    CAPTIONS,
    KINDS,
    VARIANTS,
    VECTORS,
    LeasedClaims,
    LeaseLost,
    WorkerIdentity,
    claim_variant_jobs,
    claim_vectors,
    register_worker,
    release_files,
    release_lapsed,
    renew_lease,
    retire_worker,
    settle_vectors,
)

if TYPE_CHECKING:
    from alttext.search.vectors import Encoder
    from alttext.variants.protocols import ChatVariantsClient

logger = logging.getLogger(__name__)

MAX_PAUSE = 60.0  # the longest wait between tries while the database is away


@dataclass
class WorkerOptions:
    lease: float = 60.0  # seconds a claim lasts unless renewed
    poll: float = 5.0  # seconds between looks at an empty queue
    batch_size: int | None = None  # None: the model's (Captioner)
    max_pixels: int = DEFAULT_MAX_PIXELS
    decode_threads: int = 2  # read, key and decode photos ahead of the model
    read_existing: ExistingReader | None = None
    local_path: Callable[[str], str] | None = None  # the path map
    until_empty: bool = False  # stop once the queue is empty (benchmarks, one-off runs)
    kinds: tuple[str, ...] = (CAPTIONS,)  # the work it takes, of captions, vectors, variants
    vector_batch: int = 64  # pictures claimed per vectors batch (one encode, one store)
    vector_batches: int = 16  # batches per round, then captions again (new files come first)
    variants_batch: int = 4  # variants jobs claimed at once (each is a chat call of seconds)


@dataclass
class WorkerTotals:
    """What this process did, over all its registrations."""

    files: int = 0
    images: int = 0  # pictures through the model
    vectors: int = 0  # sentence vectors stored
    variants: int = 0  # variants jobs finished (done, retrying, parked or dropped)
    lost: int = 0  # results not stored: the lease had passed to another worker
    failed: int = 0
    rounds: int = 0
    reconnects: int = 0
    registrations: list[int] = field(default_factory=list)


class _Model:
    """The captioner, loaded on first need and kept across rounds."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._model: Any = None

    def __call__(self) -> Any:
        if self._model is None:
            self._model = self._factory()
        return self._model


class CaptionWorker:
    def __init__(self, index: Index, options: WorkerOptions, load_model: Callable[[], Any], identity: WorkerIdentity,
                 stop: threading.Event | None = None, *, load_encoder: Callable[[], Encoder] | None = None,
                 variants: ChatVariantsClient | None = None) -> None:
        if VECTORS in options.kinds and load_encoder is None:
            raise ValueError("a vectors worker needs an encoder")
        if VARIANTS in options.kinds and variants is None:
            raise ValueError("a variants worker needs a variants client")
        self.index = index
        self.options = options
        self.encoder = _Model(load_encoder) if load_encoder is not None else None
        self.variants = variants
        self._budget_since = time.monotonic()
        self.identity = identity
        self.stop = stop or threading.Event()
        self.model = _Model(load_model)
        self.totals = WorkerTotals()
        self.lease = timedelta(seconds=options.lease)
        self._worker_id: int | None = None
        self._base = (0, 0, 0, 0)  # totals (files, images, vectors, variants) when the current registration began
        self._id_lock = threading.Lock()
        self._heartbeat = threading.Thread(target=self._beat, name="alttext-lease", daemon=True)
        self._db_away = False
        self._leftovers = True  # claims an interrupted round may have left (and, at start, a killed run's)
        self._current: IngestReport | None = None  # the round in progress, counted live by the heartbeat

    # -- identity ----------------------------------------------------------------------------------
    @property
    def worker_id(self) -> int:
        with self._id_lock:
            if self._worker_id is None:
                raise LeaseLost("not registered")
            return self._worker_id

    def _register(self) -> int:
        worker_id = register_worker(self.index, self.identity, self.lease, self.options.kinds)
        with self._id_lock:
            self._worker_id = worker_id
            self._base = (self.totals.files, self.totals.images, self.totals.vectors, self.totals.variants)
        self.totals.registrations.append(worker_id)
        logger.info("worker %d registered (%s, pid %d, lease %g s)", worker_id, self.identity.host, self.identity.pid,
                    self.options.lease)
        return worker_id

    def _counts(self) -> dict[str, int]:
        current = self._current
        files_done = self.totals.files - self._base[0] + (current.linked if current is not None else 0)
        images_done = self.totals.images - self._base[1] + (current.captioned if current is not None else 0)
        return {"files_done": max(0, files_done), "images_done": max(0, images_done),
                "vectors_done": max(0, self.totals.vectors - self._base[2]),
                "variants_done": max(0, self.totals.variants - self._base[3])}

    # -- the heartbeat thread ------------------------------------------------------------------------
    def _beat(self) -> None:
        interval = max(0.2, self.options.lease / 4)
        while not self.stop.wait(interval):
            try:
                with self._id_lock:
                    worker_id = self._worker_id
                if worker_id is None:
                    continue
                if not renew_lease(self.index, worker_id, self.lease, **self._counts()):
                    logger.warning("worker %d lost its lease (stalled longer than %g s?); its files were handed on,"
                                   " registering again", worker_id, self.options.lease)
                    with self._id_lock:
                        if self._worker_id == worker_id:
                            self._worker_id = None
                    continue
                release_lapsed(self.index)
            except DatabaseError as exc:
                logger.debug("renewing the lease failed: %s", _first_line(exc))

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> WorkerTotals:
        """Work until ``stop`` is set (or, with ``until_empty``, the queue is empty); the totals."""
        pause = 0.0
        self._heartbeat.start()
        try:
            while not self.stop.is_set():
                try:
                    if self._worker_id is None:
                        self._register()
                    busy = self._round()
                    self._back_online()
                    pause = 0.0
                except LeaseLost:
                    self._leftovers = True
                    with self._id_lock:
                        self._worker_id = None
                    continue
                except DatabaseError as exc:
                    self._leftovers = True
                    pause = min(MAX_PAUSE, max(1.0, pause * 2))
                    self._went_away(exc, pause)
                    self.stop.wait(pause)
                    continue
                if busy:
                    continue  # perhaps more: claim again at once
                if self.options.until_empty:
                    break
                self.stop.wait(self.options.poll)
        finally:
            self.stop.set()
            self._heartbeat.join()
            self._retire()
        return self.totals

    def _round(self) -> bool:
        """One round over the kinds of work it takes; whether it found any."""
        if self._leftovers:  # a clean round leaves nothing claimed; an interrupted one may
            release_files(self.index, self.worker_id)
            self._leftovers = False
            self._back_online()
        busy = False
        if CAPTIONS in self.options.kinds:
            report = self._captions()
            busy = bool(report.linked or report.failed or report.lost)
        if VECTORS in self.options.kinds and not self.stop.is_set():
            busy = self._vectors() or busy
        if VARIANTS in self.options.kinds and not self.stop.is_set():
            busy = self._variants() or busy
        return busy

    def _captions(self) -> IngestReport:
        ingester = Ingester(
            self.index, self.model, batch_size=self.options.batch_size, max_pixels=self.options.max_pixels,
            read_existing=self.options.read_existing, should_stop=self.stop.is_set, workers=self.options.decode_threads,
            source=LeasedClaims(self.index, lambda: self.worker_id), local_path=self.options.local_path,
        )
        self._current = ingester.report
        try:
            return ingester.run()
        finally:  # a round ended by a lost lease or the database going away did work too
            self._current = None
            self._count(ingester.report)
            self.totals.rounds += 1

    def _vectors(self) -> bool:
        """Up to ``vector_batches`` claimed batches of vectors for pictures whose current caption has none: the
        encoder runs outside any transaction, each batch is stored only for what this worker still holds."""
        from alttext.search.vectors import store_claimed_vectors

        assert self.encoder is not None
        busy = False
        for _ in range(self.options.vector_batches):
            if self.stop.is_set():
                break
            worker_id = self.worker_id
            claimed = claim_vectors(self.index, worker_id, self.options.vector_batch)
            if not claimed:
                break
            busy = True
            stored = store_claimed_vectors(
                self.index, self.encoder(), [(claim.caption_id, claim.text) for claim in claimed],
                partial(settle_vectors, worker_id=worker_id, claimed=claimed),
                batch_size=self.options.vector_batch)
            self.totals.vectors += stored
            if stored < len(claimed):
                # Taken over after this worker's lease ran out, or the caption changed meanwhile (then it is
                # claimed again, with its new caption).
                logger.info("%d of %d vectors not stored: taken over or re-captioned meanwhile",
                            len(claimed) - stored, len(claimed))
        return busy

    def _variants(self) -> bool:
        """One claimed batch of due variants jobs, each stored only while this worker still holds it."""
        from alttext.index.variant_jobs import run_claimed_variant_jobs, utcnow
        from alttext.library.after_index import VARIANTS_BUDGET_PERIOD

        assert self.variants is not None
        if time.monotonic() - self._budget_since > VARIANTS_BUDGET_PERIOD:  # a budget per day, as watch's
            self.variants.reset_request_count()
            self._budget_since = time.monotonic()
        if getattr(self.variants, "cap_reached", False):
            return False  # the per-run request cap (variants_max_requests): the jobs stay queued for others
        worker_id = self.worker_id
        job_ids = claim_variant_jobs(self.index, worker_id, self.options.variants_batch, utcnow())
        if not job_ids:
            return False
        counts = run_claimed_variant_jobs(self.index, self.variants, job_ids, worker_id, should_stop=self.stop.is_set)
        self.totals.variants += counts.processed
        self.totals.lost += counts.lost
        if counts.lost:
            logger.warning("%d variants result%s not stored: another worker took %s over", counts.lost,
                           "" if counts.lost == 1 else "s", "it" if counts.lost == 1 else "them")
        if counts.processed:
            logger.info("variants: %d done, %d to retry, %d failed, %d dropped", counts.done, counts.retrying,
                        counts.failed, counts.dropped)
        return True

    def _count(self, report: IngestReport) -> None:
        self.totals.files += report.linked
        self.totals.images += report.captioned
        self.totals.lost += report.lost
        self.totals.failed += report.failed
        if report.lost:
            logger.warning("%d result%s not stored: another worker took %s over after this one's lease ran out",
                           report.lost, "" if report.lost == 1 else "s", "it" if report.lost == 1 else "them")
        if report.linked or report.failed:
            logger.info("indexed %d file%s (%d through the model, %d failed)", report.linked,
                        "" if report.linked == 1 else "s", report.captioned, report.failed)

    def _went_away(self, exc: BaseException, pause: float) -> None:
        if not self._db_away:
            self._db_away = True
            self.totals.reconnects += 1
            logger.warning("the index is unavailable (%s); retrying, first in %g s", _first_line(exc), pause)
        else:
            logger.debug("still unavailable (%s); next try in %g s", _first_line(exc), pause)

    def _back_online(self) -> None:
        if self._db_away:
            self._db_away = False
            logger.info("the index answers again; carrying on")

    def _retire(self) -> None:
        with self._id_lock:
            worker_id = self._worker_id
        if worker_id is None:
            return
        try:
            retire_worker(self.index, worker_id, **self._counts())
        except DatabaseError as exc:  # the lease runs out instead, and others take the files
            logger.warning("could not give back this worker's files (%s); they pass on when its lease ends",
                           _first_line(exc))


def worker_kinds(names: Iterable[str]) -> list[str]:
    """The kinds of work named (``captions``, ``vectors``, ``variants``; repeats ignored), in the order a round
    does them; a ValueError naming any other, or none."""
    wanted = {name.strip().lower() for name in names if name.strip()}
    unknown = sorted(wanted - set(KINDS))
    if unknown:
        raise ValueError(f"unknown kind of work {', '.join(unknown)} (choose from {', '.join(KINDS)})")
    if not wanted:
        raise ValueError(f"no kind of work (choose from {', '.join(KINDS)})")
    return [kind for kind in KINDS if kind in wanted]


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT end the worker after the batch in progress (its claims go back to the queue); a
    second one exits at once, which is safe too: every write is a transaction and the lease passes on."""
    import os
    import signal

    def handle(signum: int, _frame: object) -> None:
        if stop.is_set():
            os._exit(128 + signum)
        logger.info("stopping (signal %d): finishing the batch in progress", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
