"""File-system events as hints (docs/architecture.md §1): watchdog observers turned into small messages for the worker.

The event handler runs on watchdog's thread and only classifies events and queues :class:`Hint` s; it
never touches the index and never raises (an exception there would end watchdog's dispatch thread).

inotify is used where it works. Its two failure modes are reported instead of silently losing events:
a queue overflow (the kernel dropped events: the daemon rescans) and the per-user watch or instance
limit (``fs.inotify.max_user_watches`` / ``max_user_instances``: the daemon falls back to polling).
watchdog only raises the limit error for a watched root and swallows it for subfolders, so the
inotify file descriptor class is wrapped to see every one.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from alttext.images import is_image_path
from alttext.paths import is_under
from alttext.watch.settle import StatKey, stat_key

logger = logging.getLogger(__name__)

# Opens and close-without-write (every read of a photo, ours included) and folder-modified noise are
# not asked for at all: the kernel doesn't even queue them.
EVENT_TYPES: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileModifiedEvent, FileClosedEvent, FileMovedEvent, FileDeletedEvent,
    DirCreatedEvent, DirMovedEvent, DirDeletedEvent,
]

LIMIT_ERRNOS = (errno.ENOSPC, errno.EMFILE)


@dataclass(frozen=True)
class Hint:
    """What the worker should look at.

    kind: ``file`` (something happened to an image file: reconcile its folder), ``complete`` (the writer
    closed it or renamed it into place; ``key`` is its stat then), ``tree`` (a folder appeared, went or
    moved: reconcile everything below it), ``rescan`` (events may have been lost: reconcile all), ``wake``.
    """

    kind: str
    path: str = ""
    key: StatKey | None = None
    reason: str = ""


class Trouble:
    """Problems the observer threads report to the supervisor (thread-safe flags)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.overflows = 0
        self.limit_error: OSError | None = None

    def overflow(self) -> None:
        with self._lock:
            self.overflows += 1

    def limit(self, error: OSError) -> None:
        with self._lock:
            if self.limit_error is None:
                self.limit_error = error

    def take_overflows(self) -> int:
        with self._lock:
            count, self.overflows = self.overflows, 0
            return count


class HintHandler(FileSystemEventHandler):
    """Turns watchdog events into hints. ``prefixes`` maps a watched path to the root it stands for
    (they differ when a root is reached through a symlink)."""

    def __init__(self, put: Callable[[Hint], None], prefixes: dict[str, str] | None = None) -> None:
        self.put = put
        self.prefixes = prefixes or {}

    def _path(self, raw: bytes | str) -> str:
        path = os.fsdecode(raw)
        for watched, root in self.prefixes.items():
            if is_under(path, watched):
                return root + path[len(watched):]
        return path

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self._dispatch(event)
        except Exception:  # never let one odd event end watchdog's thread; scans catch up
            logger.exception("ignoring a file event that could not be handled: %r", event)

    def _dispatch(self, event: FileSystemEvent) -> None:
        src = self._path(event.src_path)
        dest = self._path(event.dest_path) if event.dest_path else ""
        kind = event.event_type
        if event.is_directory:
            if kind in ("created", "deleted"):
                self.put(Hint("tree", src))
            elif kind == "moved":
                if src:
                    self.put(Hint("tree", src))
                if dest:
                    self.put(Hint("tree", dest))
            return
        if kind == "moved":
            if src and is_image_path(src):
                self.put(Hint("file", src))
            if dest and is_image_path(dest):
                self.put(Hint("complete", dest, key=stat_key(dest)))  # renamed into place: complete
        elif kind == "closed":
            if is_image_path(src):
                self.put(Hint("complete", src, key=stat_key(src)))
        elif kind in ("created", "modified", "deleted") and is_image_path(src):
            self.put(Hint("file", src))


def _reporting_inotify_observer(trouble: Trouble) -> Any:
    """An InotifyObserver whose inotify descriptor reports overflows and limit errors to ``trouble``."""
    from watchdog.observers.api import DEFAULT_OBSERVER_TIMEOUT, BaseObserver
    from watchdog.observers.inotify import InotifyEmitter, InotifyObserver
    from watchdog.observers.inotify_c import InotifyFD

    class ReportingInotifyFD(InotifyFD):
        def add_callback(self, path: bytes, mask: Any, callback: Any, id_: Any) -> Any:
            try:
                return super().add_callback(path, mask, callback, id_)
            except OSError as exc:
                if exc.errno in LIMIT_ERRNOS:
                    trouble.limit(exc)
                raise

        def handle_event(self, event: Any) -> None:
            if event.is_queue_overflow:
                trouble.overflow()
            super().handle_event(event)

    class ReportingInotifyObserver(InotifyObserver):
        def __init__(self) -> None:  # InotifyObserver.__init__, with our descriptor class
            self._inotify_fd = ReportingInotifyFD()
            self._inotify_fd.start()
            BaseObserver.__init__(self, InotifyEmitter, timeout=DEFAULT_OBSERVER_TIMEOUT,
                                  inotify_fd=self._inotify_fd)

    return ReportingInotifyObserver()


def make_observer(mode: str, trouble: Trouble, poll_interval: float) -> Any:
    """An unstarted observer: ``poll`` or ``inotify``. Raises OSError when inotify can't be had."""
    if mode == "poll":
        from watchdog.observers.polling import PollingObserver

        return PollingObserver(timeout=poll_interval)
    try:
        return _reporting_inotify_observer(trouble)
    except OSError as exc:
        if exc.errno in LIMIT_ERRNOS:
            trouble.limit(exc)
        raise
    except (ImportError, AttributeError, TypeError):  # another watchdog layout: plain inotify, less insight
        logger.debug("watchdog internals differ; using its plain inotify observer", exc_info=True)
        from watchdog.observers.inotify import InotifyObserver

        return InotifyObserver()


def inotify_limits() -> str:
    """The current limits, for the log line that explains a fallback to polling."""
    values = []
    for name in ("max_user_watches", "max_user_instances"):
        try:
            with open(f"/proc/sys/fs/inotify/{name}") as handle:
                values.append(f"fs.inotify.{name}={handle.read().strip()}")
        except OSError:
            pass
    return ", ".join(values)
