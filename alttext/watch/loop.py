"""The daemon's writer thread: hints in, reconcile scans, the settle check, batches through the model.

Its scans and captions are written in short ``BEGIN IMMEDIATE`` transactions; it is not the index's only
writer (the daemon's background threads and other processes write the same way: docs/architecture.md §9,
the write rule). The loop, in order:

1. take the hints the observer queued (cheap: they only mark folders dirty or files complete);
2. a full reconcile scan when one is due: at start-up, every ``scan_interval`` (jittered), after an
   inotify overflow or a restart of the observer, on SIGHUP, and after an error;
3. a scan of each dirty folder once its events have quietened (``debounce``), or of a whole subtree
   when a folder was created, deleted or moved; same rules as ``alttext scan``, then moves are paired;
4. retries that are due, and unreadable folders to look at again;
5. an ingest round over the ``pending`` rows (the durable queue) that have settled; rounds end every
   ``round_seconds`` so a long backlog never starves the steps above;
6. what follows indexing (``AfterIndex``: write-back, vectors, variants) after the start-up scan, each
   round that indexed files and each full scan, again time-boxed, until the write-back queue is empty.

Nothing here is allowed to end the thread except a stop request or a fatal error (the model can't be
loaded): an exception in a step is logged, a rescan is scheduled after a growing pause, and the loop
goes on. The supervisor watches ``heartbeat`` to tell a busy worker from a stuck one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from alttext.images import DEFAULT_MAX_PIXELS
from alttext.index import file_retries
from alttext.index.db import Index
from alttext.index.ingest import ExistingReader, Ingester, IngestReport
from alttext.index.leases import release_lapsed, workers_progress
from alttext.index.models import FAILED, INDEXED, MISSING, PENDING, utcnow
from alttext.index.overview import file_state_counts
from alttext.index.reconcile import Reconciler, ReconcileReport, note_skipped_links
from alttext.paths import is_under
from alttext.watch.observe import Hint
from alttext.watch.schedule import DirtyFolders, Scope, UnreadableFolders, outermost
from alttext.watch.settle import Settler

logger = logging.getLogger(__name__)


IDLE_TICK = 5.0  # the longest the worker sleeps without a heartbeat


class AfterIndex(Protocol):
    """What follows indexing (``alttext.library.after_index``): started and stopped with the daemon, and
    called in the writer thread after the start-up scan, after each round that indexed files (with the
    round's start time) and after each full scan; it returns True while work is left (the write-back
    queue), and is then called again as soon as the events have been looked at."""

    def start(self) -> None: ...

    def after_round(self, since: datetime, should_stop: Callable[[], bool]) -> bool: ...

    def stop(self) -> None: ...


class StopRequested(Exception):
    """Raised from a scan's progress callback to end the scan at once (it is safe to redo)."""


class FatalError(Exception):
    """The daemon can't go on (e.g. the model can't be loaded); ``exit_code`` is the process's."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class WatchOptions:
    roots: list[str]
    settle_seconds: float = 2.0
    scan_interval: float = 3600.0
    poll: bool = False
    poll_interval: float = 5.0
    batch_size: int | None = None  # None: the model's (Captioner)
    max_pixels: int = DEFAULT_MAX_PIXELS
    decode_threads: int = 2  # read, key and decode photos ahead of the model
    debounce: float = 0.3  # a dirty folder is scanned once its events pause this long...
    max_delay: float = 1.5  # ...or at the latest this long after the first one
    round_seconds: float = 20.0
    stall_seconds: float = 900.0
    retry_base: float = 60.0
    unreadable_retry: float = 30.0
    jitter: float = 0.1  # periodic scans are spread by ±10 %
    # Text the photo's own metadata already holds becomes its caption (see alttext.index.writeback).
    read_existing: ExistingReader | None = None
    # False: reconcile and queue only; `alttext worker` processes caption (docs/architecture.md §16).
    caption: bool = True
    worker_look: float = 10.0  # then: how often to look whether the workers stored anything


class ModelHolder:
    """Loads the captioner on first need, once; later calls return the same one."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._model: Any = None
        self._lock = threading.Lock()
        self.loading = False  # a first load may download a model: not a stall

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def __call__(self) -> Any:
        with self._lock:
            if self._model is None:
                started = time.monotonic()
                logger.info("loading the captioning model")
                self.loading = True
                try:
                    self._model = self._factory()
                finally:
                    self.loading = False
                logger.info("model loaded in %.1f s", time.monotonic() - started)
            return self._model


class OncePerFolder(logging.Filter):
    """Lets the reconcile scan's "cannot read folder" warning through once per folder (until it recovers)."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("cannot read folder") and record.args:
            folder = str(record.args[0]) if isinstance(record.args, tuple) else ""
            with self._lock:
                if folder in self._seen:
                    return False
                self._seen.add(folder)
        return True

    def forget(self, folder: str) -> None:
        with self._lock:
            self._seen.discard(folder)


_libc: Any = None


def trim_heap() -> None:
    """Give freed heap back to the system (glibc keeps it otherwise; docs/architecture.md §6)."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _libc.malloc_trim(0)
    except (OSError, AttributeError):
        _libc = False


@dataclass
class RoundStats:
    """Totals since start-up (for debugging and in-process use)."""

    scans: int = 0
    partial_scans: int = 0
    rounds: int = 0
    captioned: int = 0
    reused: int = 0
    failed: int = 0
    errors: int = 0


class Worker:
    def __init__(
        self,
        index: Index,
        options: WatchOptions,
        model: ModelHolder,
        hints: queue.Queue[Hint],
        stop: threading.Event,
        *,
        after_index: AfterIndex | None = None,
        restart_observer: Callable[[], None] | None = None,
        once_filter: OncePerFolder | None = None,
    ) -> None:
        self.index = index
        self.options = options
        self.roots = sorted(options.roots, key=len, reverse=True)  # longest first: the innermost root wins
        self.model = model
        self.hints = hints
        self.stop = stop
        self.after_index = after_index
        self.restart_observer = restart_observer or (lambda: None)
        self.once_filter = once_filter
        self.settler = Settler(options.settle_seconds)
        self.heartbeat = time.monotonic()
        self.fatal: FatalError | None = None
        self.status_text = "starting"
        self.stats = RoundStats()
        self.dirty_folders = DirtyFolders(options.debounce, options.max_delay)
        self.dirty_trees = DirtyFolders(options.debounce, options.max_delay)
        self.unreadable = UnreadableFolders(options.unreadable_retry, options.scan_interval)
        self.rescan_reason: str | None = "start-up"
        self.next_full_scan = time.monotonic()
        self.ingest_needed = True
        self.after_needed = True  # the work after indexing has something to do (at start: what a killed run left)
        self.retry_due: datetime | None = None
        self.workers_seen = -1  # queue-only mode: the workers' progress counter at the last look
        self.look_started = utcnow()
        self.next_worker_look = 0.0
        self.quiet_until = 0.0
        self.error_pause = 0.0
        self._first_round = True
        self.thread = threading.Thread(target=self._run, name="alttext-writer", daemon=True)

    # -- thread ------------------------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    def beat(self) -> None:
        self.heartbeat = time.monotonic()

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                self.beat()
                self._drain(self._wait_time())
                if self.stop.is_set() or time.monotonic() < self.quiet_until:
                    continue
                try:
                    self._step(time.monotonic())
                    self.error_pause = 0.0
                except (StopRequested, FatalError):
                    raise
                except Exception as exc:
                    self._recover(exc)
        except StopRequested:
            pass
        except FatalError as exc:
            self.fatal = exc
            logger.error("%s", exc)
        except BaseException as exc:  # a bug: report it, and let the supervisor exit non-zero
            self.fatal = FatalError(f"internal error: {exc!r}")
            logger.exception("the writer thread failed")

    def _recover(self, exc: Exception) -> None:
        self.stats.errors += 1
        self.error_pause = min(600.0, max(5.0, self.error_pause * 2))
        logger.error("%s (rescanning in %.0f s)", exc, self.error_pause, exc_info=exc)
        self.quiet_until = time.monotonic() + self.error_pause
        self.rescan_reason = self.rescan_reason or "recovery after an error"
        self.ingest_needed = True

    # -- hints -------------------------------------------------------------------------------------
    def _wait_time(self) -> float:
        now = time.monotonic()
        if now < self.quiet_until:
            return min(self.quiet_until - now, IDLE_TICK)
        if self.rescan_reason or self.ingest_needed or (self.after_needed and self.after_index is not None):
            return 0.0
        times = [self.next_full_scan, now + IDLE_TICK, *self.dirty_folders.due_times(), *self.dirty_trees.due_times()]
        due = self.settler.next_due()
        if due is not None:
            times.append(due)
        if self.retry_due is not None:
            times.append(now + (self.retry_due - utcnow()).total_seconds())
        times.extend(self.unreadable.due_times())
        return max(0.0, min(times) - now)

    def _drain(self, timeout: float) -> None:
        try:
            hint = self.hints.get(timeout=timeout) if timeout > 0 else self.hints.get_nowait()
        except queue.Empty:
            return
        self._take(hint)
        for _ in range(100_000):
            try:
                hint = self.hints.get_nowait()
            except queue.Empty:
                return
            self._take(hint)

    def root_of(self, path: str) -> str | None:
        for root in self.roots:
            if is_under(path, root):
                return root
        return None

    @staticmethod
    def _hidden(root: str, path: str) -> bool:
        """Inside a hidden folder below the root: the scan never goes there, so neither do events."""
        relative = path[len(root):]
        return any(part.startswith(".") for part in relative.split(os.sep) if part)

    def _take(self, hint: Hint) -> None:
        if hint.kind == "wake":
            return
        if hint.kind == "rescan":
            self.rescan_reason = self.rescan_reason or hint.reason or "rescan requested"
            return
        root = self.root_of(hint.path)
        if root is None:
            return
        now = time.monotonic()
        if hint.kind == "tree":
            if not self._hidden(root, hint.path):
                self.dirty_trees.mark(hint.path, now)
            return
        folder = os.path.dirname(hint.path)
        if self._hidden(root, folder):
            return
        if hint.kind == "complete":
            self.settler.completed(hint.path, hint.key)
        self.dirty_folders.mark(folder if is_under(folder, root) else root, now)

    # -- steps -------------------------------------------------------------------------------------
    def _step(self, now: float) -> None:
        if self.rescan_reason is not None or now >= self.next_full_scan:
            self._full_scan(self.rescan_reason or "periodic")
        self._partial_scans(time.monotonic())
        self._retry_unreadable(time.monotonic())
        if self.retry_due is not None and utcnow() >= self.retry_due:
            released = file_retries.release_due(self.index)
            self._load_retries()
            if released:
                logger.info("retrying %d failed file%s", released, "" if released == 1 else "s")
            self.ingest_needed = True  # also files a scan re-queued that were waiting for this moment
        due = self.settler.next_due()
        if not self.options.caption:
            self._look_at_workers(time.monotonic())
        elif self.ingest_needed or (due is not None and time.monotonic() >= due):
            self._ingest_round()
        elif self.after_needed:
            self._run_after_index(utcnow())

    def _progress(self, _count: int) -> None:
        self.beat()
        if self.stop.is_set():
            raise StopRequested

    def _full_scan(self, reason: str) -> None:
        started = time.monotonic()
        self.dirty_folders.clear()  # the walk covers them; events queued meanwhile are taken afterwards
        self.dirty_trees.clear()
        reconciler = Reconciler(self.index, on_progress=self._progress)
        for root in self.options.roots:
            reconciler.scan_root(root)
        reconciler.match_moves()
        report = reconciler.report
        file_retries.hold_back(self.index)
        self.rescan_reason = None
        interval = self.options.scan_interval
        self.next_full_scan = time.monotonic() + interval * random.uniform(1 - self.options.jitter,
                                                                           1 + self.options.jitter)
        self.ingest_needed = True
        self.after_needed = True  # e.g. alt text edited since, or write-backs whose retry is due
        self.stats.scans += 1
        logger.info("%s scan: %s (%.1f s)", reason, _describe(report), time.monotonic() - started)
        self._note_unreadable(report.unreadable_dirs, None)
        note_skipped_links(report.skipped_links)  # once per full scan, not per event

    def _hold_back(self) -> None:
        if self.retry_due is not None:  # only while some retry is waiting
            file_retries.hold_back(self.index)

    def _partial_scans(self, now: float) -> None:
        trees = self.dirty_trees.take_ready(now)
        folders = self.dirty_folders.take_ready(now)
        if not trees and not folders:
            return
        trees = outermost(trees)
        folders = [folder for folder in sorted(folders) if not any(is_under(folder, tree) for tree in trees)]
        started = time.monotonic()
        reconciler = Reconciler(self.index, on_progress=self._progress)
        scopes: list[Scope] = []
        for path, recursive in [*((tree, True) for tree in trees), *((folder, False) for folder in folders)]:
            root = self.root_of(path)
            if root is None:
                continue
            reconciler.scan_root(root, below=path, recursive=recursive)
            scopes.append((path, recursive))
        reconciler.match_moves()
        report = reconciler.report
        self._hold_back()
        self.stats.partial_scans += 1
        if report.new or report.changed or report.restored:
            self.ingest_needed = True
        level = logging.INFO if (report.moved or report.missing or report.restored) else logging.DEBUG
        logger.log(level, "changes in %d folder%s: %s (%.2f s)", len(scopes), "" if len(scopes) == 1 else "s",
                   _describe(report), time.monotonic() - started)
        self._note_unreadable(report.unreadable_dirs, scopes)

    def _note_unreadable(self, found: list[str], scopes: list[Scope] | None) -> None:
        for folder in self.unreadable.note(found, scopes, time.monotonic()):
            if self.once_filter is not None:
                self.once_filter.forget(folder)
            if os.path.isdir(folder):
                logger.info("folder %s can be read again", folder)
                self.restart_observer()  # so that it gets its inotify watch
            else:
                logger.info("folder %s is gone", folder)

    def _retry_unreadable(self, now: float) -> None:
        due = self.unreadable.due(now)
        if not due:
            return
        reconciler = Reconciler(self.index, on_progress=self._progress)
        scopes: list[Scope] = []
        for folder in due:
            root = self.root_of(folder)
            if root is None:
                self.unreadable.forget(folder)
                continue
            reconciler.scan_root(root, below=folder, recursive=True)
            scopes.append((folder, True))
        reconciler.match_moves()
        self._hold_back()
        if reconciler.report.new or reconciler.report.changed or reconciler.report.restored:
            self.ingest_needed = True
        self._note_unreadable(reconciler.report.unreadable_dirs, scopes)

    # -- ingest ------------------------------------------------------------------------------------
    def _load_retries(self) -> None:
        self.retry_due = file_retries.next_due(self.index)

    def _accept(self, _file_id: int, path: str) -> bool:
        self.beat()
        return self.settler.ready(path)

    def _ingest_round(self) -> None:
        self.ingest_needed = False
        self.settler.begin_round()
        since = utcnow()
        started = time.monotonic()
        deadline = started + self.options.round_seconds
        cut_short = False

        def should_stop() -> bool:
            nonlocal cut_short
            self.beat()
            if self.stop.is_set():
                return True
            if time.monotonic() > deadline:
                cut_short = True
                return True
            return False

        ingester = Ingester(
            self.index, self.model, batch_size=self.options.batch_size, max_pixels=self.options.max_pixels,
            should_stop=should_stop, accept=self._accept, read_existing=self.options.read_existing,
            workers=self.options.decode_threads,
        )
        report = ingester.run()
        if cut_short:
            self.ingest_needed = True  # more to do: carry on after a look at the events
        elif not self.stop.is_set():
            self.settler.forget_stale()
        self.stats.rounds += 1
        self.stats.captioned += report.captioned
        self.stats.reused += report.reused
        self.stats.failed += report.failed
        linked = report.captioned + report.reused + report.imported
        if linked or report.failed or report.vanished:
            logger.info("indexed %d file%s: %s (%.1f s)", linked, "" if linked == 1 else "s", _describe_ingest(report),
                        time.monotonic() - started)
        self._after_round(report, since)

    def _look_at_workers(self, now: float) -> None:
        """Queue-only mode: the workers caption. Hand on the files of workers that stopped renewing their lease,
        and run what follows indexing (write-back, vectors, variants) once the workers stored something."""
        self.ingest_needed = False
        if now < self.next_worker_look and not self.after_needed:
            return
        self.next_worker_look = now + self.options.worker_look
        release_lapsed(self.index)
        progress = workers_progress(self.index)
        since, self.look_started = self.look_started, utcnow()
        if progress != self.workers_seen or self.after_needed:
            self.workers_seen = progress
            self._schedule_retries()  # files the workers could not read get their retry times
            self._run_after_index(since)
            self.refresh_status()

    def _schedule_retries(self) -> None:
        for failed in file_retries.schedule_failed(self.index, base=self.options.retry_base):
            if failed.retry_in is None:
                logger.warning("failed: %s: %s (attempt %d; parked as failed, see `alttext status`)",
                               failed.path, failed.error, failed.attempts)
            else:
                logger.warning("failed: %s: %s (attempt %d; retrying in %s)", failed.path, failed.error,
                               failed.attempts, _duration(failed.retry_in.total_seconds()))
        self._load_retries()

    def _after_round(self, report: IngestReport, since: datetime) -> None:
        if report.failed or self._first_round:
            self._schedule_retries()
        self._first_round = False
        linked = report.captioned + report.reused + report.imported
        if linked or self.after_needed:
            self._run_after_index(since)
        if linked or report.failed:
            trim_heap()
        self.refresh_status()

    def _run_after_index(self, since: datetime) -> None:
        """What follows indexing, for at most ``round_seconds`` (then events and captioning come first and
        ``after_needed`` brings it back); a failure is logged and retried after the next full scan."""
        self.after_needed = False
        if self.after_index is None:
            return
        deadline = time.monotonic() + self.options.round_seconds

        def should_stop() -> bool:
            self.beat()
            return self.stop.is_set() or time.monotonic() > deadline

        try:  # what follows indexing (write-back, vectors, variants) never stops the watching
            self.after_needed = bool(self.after_index.after_round(since, should_stop)) and not self.stop.is_set()
        except Exception:
            logger.exception("the work after indexing failed (captions are kept)")

    def refresh_status(self) -> None:
        counts = file_state_counts(self.index)
        self.status_text = (
            f"{counts.get(INDEXED, 0)} indexed, {counts.get(PENDING, 0)} pending, {counts.get(FAILED, 0)} failed,"
            f" {counts.get(MISSING, 0)} missing"
        )


def _describe(report: ReconcileReport) -> str:
    parts = [f"{report.new} new", f"{report.changed} changed", f"{report.moved} moved", f"{report.missing} missing"]
    if report.restored:
        parts.append(f"{report.restored} back")
    if report.unreadable_dirs:
        parts.append(f"{len(report.unreadable_dirs)} unreadable folder(s)")
    return ", ".join(parts)


def _describe_ingest(report: IngestReport) -> str:
    parts = [f"{report.captioned} captioned in {report.model_calls} model call(s)", f"{report.reused} re-used"]
    if report.imported:
        parts.append(f"{report.imported} from metadata")
    if report.failed:
        parts.append(f"{report.failed} failed")
    if report.vanished:
        parts.append(f"{report.vanished} vanished")
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
