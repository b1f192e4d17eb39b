"""``alttext worker``: caption pending files claimed from a shared index, beside any number of others
(docs/architecture.md §16).

The loop: register; then, until stopped, give back what an interrupted round left, run an ingest whose
rows are claims (:class:`~alttext.index.leases.LeasedClaims`), and wait ``poll`` seconds when the queue is
empty. A heartbeat thread renews the worker's lease every quarter of it, records its counts, and hands on
the files of workers that stopped renewing theirs. The model runs outside any transaction; each result is
stored only if the worker still holds the file.

Reconnecting: any database error (a server restart, a dropped link, SQLite busy past its timeout) ends the
round, not the worker: one log line, a growing pause (1 s to a minute), and the round starts again; one line
when the database answers again. Files claimed before stay claimed by this worker (the lease outlives a short
outage) and are given back at the start of the next round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from alttext.images import DEFAULT_MAX_PIXELS
from alttext.index.db import DatabaseError, Index
from alttext.index.ingest import ExistingReader, Ingester, IngestReport
from alttext.index.leases import (
    LeasedClaims,
    LeaseLost,
    WorkerIdentity,
    register_worker,
    release_files,
    release_lapsed,
    renew_lease,
    retire_worker,
)

logger = logging.getLogger(__name__)

MAX_PAUSE = 60.0  # the longest wait between tries while the database is away


@dataclass
class WorkerOptions:
    lease: float = 60.0  # seconds a claim lasts unless renewed
    poll: float = 5.0  # seconds between looks at an empty queue
    batch_size: int = 8
    max_pixels: int = DEFAULT_MAX_PIXELS
    read_existing: ExistingReader | None = None
    local_path: Callable[[str], str] | None = None  # the path map
    until_empty: bool = False  # stop once the queue is empty (benchmarks, one-off runs)


@dataclass
class WorkerTotals:
    """What this process did, over all its registrations."""

    files: int = 0
    images: int = 0  # pictures through the model
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
                 stop: threading.Event | None = None) -> None:
        self.index = index
        self.options = options
        self.identity = identity
        self.stop = stop or threading.Event()
        self.model = _Model(load_model)
        self.totals = WorkerTotals()
        self.lease = timedelta(seconds=options.lease)
        self._worker_id: int | None = None
        self._base = (0, 0)  # totals (files, images) when the current registration began
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
        worker_id = register_worker(self.index, self.identity, self.lease)
        with self._id_lock:
            self._worker_id = worker_id
            self._base = (self.totals.files, self.totals.images)
        self.totals.registrations.append(worker_id)
        logger.info("worker %d registered (%s, pid %d, lease %g s)", worker_id, self.identity.host, self.identity.pid,
                    self.options.lease)
        return worker_id

    def _counts(self) -> dict[str, int]:
        current = self._current
        files_done = self.totals.files - self._base[0] + (current.linked if current is not None else 0)
        images_done = self.totals.images - self._base[1] + (current.captioned if current is not None else 0)
        return {"files_done": max(0, files_done), "images_done": max(0, images_done)}

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
                    report = self._round()
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
                if report.linked or report.failed or report.lost:
                    continue  # perhaps more: claim again at once
                if self.options.until_empty:
                    break
                self.stop.wait(self.options.poll)
        finally:
            self.stop.set()
            self._heartbeat.join()
            self._retire()
        return self.totals

    def _round(self) -> IngestReport:
        if self._leftovers:  # a clean round leaves nothing claimed; an interrupted one may
            release_files(self.index, self.worker_id)
            self._leftovers = False
            self._back_online()
        ingester = Ingester(
            self.index, self.model, batch_size=self.options.batch_size, max_pixels=self.options.max_pixels,
            read_existing=self.options.read_existing, should_stop=self.stop.is_set,
            source=LeasedClaims(self.index, lambda: self.worker_id), local_path=self.options.local_path,
        )
        self._current = ingester.report
        try:
            return ingester.run()
        finally:  # a round ended by a lost lease or the database going away did work too
            self._current = None
            self._count(ingester.report)
            self.totals.rounds += 1

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
