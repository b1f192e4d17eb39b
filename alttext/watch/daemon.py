"""``alttext watch``: the supervisor (main thread) around the observer and the writer thread.

Threads:

- main (this module): signals, the observer's health (overflow -> rescan; watch limit -> polling;
  a dead observer -> restart + rescan), systemd notifications (``READY=1`` once watching, ``STATUS=``,
  ``WATCHDOG=1`` while the writer shows signs of life, ``STOPPING=1``);
- watchdog's observer threads: events -> :class:`~alttext.watch.observe.Hint` s on a queue, nothing else;
- the writer (:mod:`alttext.watch.loop`): scans and captions, and runs the model; other threads and processes
  write the index too, each write a short transaction (docs/architecture.md §9);
- optionally background threads (:mod:`alttext.watch.background`): variants (slow HTTP) and semantic
  vectors, never in the writer's way.

SIGTERM / SIGINT: stop taking events, let the writer finish the batch the model is working on (or leave
the files of an unfinished batch ``pending``), commit, exit 0. A second signal exits at once (safe:
every write is a transaction). SIGHUP asks for a full rescan.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from alttext.index.db import Index
from alttext.paths import is_under
from alttext.watch.loop import AfterIndex, FatalError, ModelHolder, OncePerFolder, WatchOptions, Worker
from alttext.watch.notify import Notifier
from alttext.watch.observe import EVENT_TYPES, LIMIT_ERRNOS, Hint, HintHandler, Trouble, inotify_limits, make_observer

logger = logging.getLogger(__name__)

UNWATCHED_RETRY = 60.0  # seconds between tries to watch a folder that couldn't be watched
RESTART_MIN_GAP = 5.0  # at most one observer restart this often


class _NeedPolling(Exception):
    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class WatchDaemon:
    def __init__(
        self,
        index: Index,
        options: WatchOptions,
        model_factory: Callable[[], Any],
        *,
        after_index: AfterIndex | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.index = index
        self.options = options
        self.notifier = notifier or Notifier()
        self.hints: queue.Queue[Hint] = queue.Queue()
        self.stop_event = threading.Event()
        self.mode = "poll" if options.poll else "inotify"
        self.trouble = Trouble()
        self.observer: Any = None
        self.unwatched: dict[str, float] = {}
        self._restart_requested = threading.Event()
        self._last_restart = 0.0
        self._stall_logged = False
        self.after_index = after_index  # write-back, vectors, variants: started and stopped with us
        self.once_filter = OncePerFolder()
        self.model = ModelHolder(model_factory)
        self.worker = Worker(
            index, options, self.model, self.hints, self.stop_event, after_index=after_index,
            restart_observer=self._restart_requested.set, once_filter=self.once_filter,
        )

    # -- control -----------------------------------------------------------------------------------
    def request_stop(self, reason: str = "stop requested") -> None:
        if self.stop_event.is_set():
            return
        logger.info("stopping (%s): finishing the batch in progress", reason)
        self.notifier.stopping(f"stopping ({reason})")
        self.stop_event.set()
        self.hints.put(Hint("wake"))

    def request_rescan(self, reason: str) -> None:
        self.hints.put(Hint("rescan", reason=reason))

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if signum == signal.SIGHUP:
            self.request_rescan(name)
            return
        if self.stop_event.is_set():
            logger.warning("%s again: exiting now (unfinished work stays pending)", name)
            os._exit(128 + signum)
        self.request_stop(name)

    # -- run ---------------------------------------------------------------------------------------
    def run(self, *, install_signals: bool = True) -> int:
        """Watch until stopped; returns the exit code (0 after a requested stop)."""
        reconcile_logger = logging.getLogger("alttext.index.reconcile")
        reconcile_logger.addFilter(self.once_filter)
        if install_signals:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(signum, self._on_signal)
        try:
            self._start_observer()  # before the start-up scan, so nothing falls between the two
            self.worker.start()
            if self.after_index is not None:
                self.after_index.start()
            how = "inotify" if self.mode == "inotify" else f"polling every {self.options.poll_interval:g} s"
            logger.info(
                "watching %s (%s; settle %g s; full scan every %s)", ", ".join(self.options.roots), how,
                self.options.settle_seconds, _duration(self.options.scan_interval),
            )
            # Ready once events are being taken, not after the start-up scan: on a big library that scan
            # could outlast TimeoutStartSec, and nothing waits for it. STATUS= tells how far it got.
            self.notifier.ready(f"watching {len(self.options.roots)} folder(s); start-up scan")
            self._supervise()
        finally:
            self._shutdown()
            reconcile_logger.removeFilter(self.once_filter)
        if self.worker.fatal is not None:
            return self.worker.fatal.exit_code
        return 0

    def _supervise(self) -> None:
        tick = 1.0
        if self.notifier.watchdog_interval:
            tick = min(tick, self.notifier.watchdog_interval / 3)
        last_status = ""
        self._ping()
        while not self.stop_event.wait(tick):
            if not self.worker.is_alive():
                break
            try:
                self._check_observer()
            except Exception:  # the watcher is only a hint: keep going on scans, try again next tick
                logger.exception("checking the file watcher failed")
            self._ping()
            status = self._status()
            if status != last_status:
                self.notifier.status(status)
                last_status = status

    def _status(self) -> str:
        mode = "inotify" if self.mode == "inotify" else "polling"
        return f"watching {len(self.options.roots)} folder(s) ({mode}): {self.worker.status_text}"

    def _ping(self) -> None:
        if not self.notifier.watchdog_interval:
            return
        stalled = time.monotonic() - self.worker.heartbeat
        if stalled > self.options.stall_seconds and not self.model.loading:
            if not self._stall_logged:
                logger.error("the writer has shown no progress for %.0f s; no more watchdog pings", stalled)
                self._stall_logged = True
            return
        self._stall_logged = False
        self.notifier.watchdog()

    def _shutdown(self) -> None:
        if not self.stop_event.is_set():
            self.notifier.stopping("stopping")
            self.stop_event.set()
        self.hints.put(Hint("wake"))
        self._stop_observer()
        if self.worker.thread.ident is not None:
            self.worker.join()
        if self.after_index is not None:
            self.after_index.stop()
        logger.info("stopped")

    # -- the observer ------------------------------------------------------------------------------
    def _start_observer(self) -> None:
        while True:
            try:
                self.observer = self._try_start(self.mode)
                return
            except _NeedPolling as need:
                logger.warning(
                    "inotify can't watch everything (%s; %s): falling back to polling every %g s; raise the"
                    " limit (e.g. sysctl fs.inotify.max_user_watches=524288) to get events at once",
                    need.error.strerror or need.error, inotify_limits() or "limits unknown", self.options.poll_interval,
                )
                self.mode = "poll"

    def _try_start(self, mode: str) -> Any:
        self.trouble = Trouble()
        try:
            observer = make_observer(mode, self.trouble, self.options.poll_interval)
        except OSError as exc:
            if mode == "inotify":
                raise _NeedPolling(exc) from exc
            raise
        observer.daemon = True
        observer.start()
        handler = HintHandler(self.hints.put, self._prefixes())
        self.unwatched.clear()
        for root in self.options.roots:
            try:
                observer.schedule(handler, os.path.realpath(root), recursive=True, event_filter=EVENT_TYPES)
            except OSError as exc:
                if mode == "inotify" and exc.errno in LIMIT_ERRNOS:
                    self._stop(observer)
                    raise _NeedPolling(exc) from exc
                logger.warning("cannot watch %s: %s; trying again every %.0f s (scans still cover it)", root,
                               exc.strerror or exc, UNWATCHED_RETRY)
                self.unwatched[root] = time.monotonic() + UNWATCHED_RETRY
        if mode == "inotify" and self.trouble.limit_error is not None:
            self._stop(observer)
            raise _NeedPolling(self.trouble.limit_error)
        self._last_restart = time.monotonic()
        return observer

    def _prefixes(self) -> dict[str, str]:
        return {os.path.realpath(root): root for root in self.options.roots if os.path.realpath(root) != root}

    @staticmethod
    def _stop(observer: Any) -> None:
        try:
            observer.stop()
            observer.join(timeout=10)
        except Exception:
            logger.debug("stopping the observer failed", exc_info=True)

    def _stop_observer(self) -> None:
        if self.observer is not None:
            self._stop(self.observer)
            self.observer = None

    def _restart_observer(self, why: str) -> None:
        logger.info("restarting the file watcher (%s)", why)
        self._stop_observer()
        self._start_observer()
        self.request_rescan(f"watcher restart ({why})")

    def _check_observer(self) -> None:
        if self.mode == "inotify" and self.trouble.limit_error is not None:
            error = self.trouble.limit_error
            logger.warning(
                "inotify watch limit reached while adding folders (%s; %s): falling back to polling every %g s",
                error.strerror or error, inotify_limits() or "limits unknown", self.options.poll_interval,
            )
            self._stop_observer()
            self.mode = "poll"
            self._start_observer()
            self.request_rescan("switch to polling")
            return
        overflows = self.trouble.take_overflows()
        if overflows:
            logger.warning("inotify queue overflowed: events were lost; rescanning")
            self.request_rescan("inotify queue overflow")
        now = time.monotonic()
        if now - self._last_restart < RESTART_MIN_GAP:
            return
        observer = self.observer
        dead = observer is None or not observer.is_alive() or any(not e.is_alive() for e in observer.emitters)
        if dead:
            self._restart_observer("it stopped")
        elif self._restart_requested.is_set():
            self._restart_requested.clear()
            if self.mode == "inotify":
                self._restart_observer("a folder became readable")
        elif any(now >= when for when in self.unwatched.values()):
            ready = [root for root, when in self.unwatched.items() if now >= when and os.path.isdir(root)]
            for root in self.unwatched:
                self.unwatched[root] = max(self.unwatched[root], now + UNWATCHED_RETRY)
            if ready:
                self._restart_observer(f"{', '.join(ready)} can be watched now")


def distinct_roots(folders: list[str]) -> list[str]:
    """The folders to watch, absolute, without those inside another one (logged); a folder that does not
    exist (yet) is kept and watched for."""
    roots: list[str] = []
    for folder in sorted({os.path.abspath(folder) for folder in folders}, key=len):
        outer = next((root for root in roots if is_under(folder, root)), None)
        if outer is not None:
            logger.info("%s is inside %s, which is watched already", folder, outer)
            continue
        if not os.path.isdir(folder):
            logger.warning("%s is not a folder (yet?); watching for it", folder)
        roots.append(folder)
    return roots


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


__all__ = ["FatalError", "WatchDaemon", "WatchOptions", "distinct_roots"]
