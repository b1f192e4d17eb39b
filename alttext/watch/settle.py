"""When is a file complete enough to read? (docs/architecture.md §1: a half-written photo is never captioned.)

A pending file is read only when one of these holds:

- the platform said the writer is done with it: a close-after-write event, or the file was renamed into
  place (temp-then-rename saves, rsync, browsers' ``.part`` files) — and its stat is still what it was
  at that moment;
- or we have seen the same ``(device, inode, size, mtime)`` for at least ``settle_seconds`` (network
  shares and polling give no close events; a copy in progress keeps changing size and mtime).

The stat is compared as observed by us, not as "mtime is old": a copy that preserves timestamps, or a
network server whose clock is behind, would otherwise look finished.

Only files waiting to settle (and recent completion events) are held in memory; the queue itself is the
index's ``pending`` rows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

StatKey = tuple[int, int, int, int]  # device, inode, size, mtime_ns

FORGET_AFTER = 120.0  # seconds an entry nobody asks about is kept (a completion event ahead of its scan)


def stat_key(path: str) -> StatKey | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


@dataclass
class _Entry:
    key: StatKey | None  # last stat seen (None: only a completion event so far)
    since: float  # when that stat was first seen
    complete: StatKey | None = None  # the stat when the writer closed it or renamed it into place
    touched: float = 0.0  # last time anything happened to this entry


class Settler:
    def __init__(self, settle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle_seconds = max(0.0, settle_seconds)
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._next_due: float | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def completed(self, path: str, key: StatKey | None) -> None:
        """The writer closed ``path`` after writing, or it was renamed into place; ``key`` is its stat then."""
        if key is None:
            return
        now = self.clock()
        entry = self._entries.get(path)
        if entry is None:
            self._entries[path] = _Entry(key=None, since=now, complete=key, touched=now)
        else:
            entry.complete, entry.touched = key, now

    def ready(self, path: str) -> bool:
        """Whether ``path`` may be read now. A file that can't be stat'ed is ready: reading it records why."""
        key = stat_key(path)
        if key is None:
            self._entries.pop(path, None)
            return True
        now = self.clock()
        entry = self._entries.get(path)
        if entry is not None and entry.complete == key:
            del self._entries[path]
            return True
        if self.settle_seconds == 0:
            self._entries.pop(path, None)
            return True
        if entry is None:
            self._entries[path] = entry = _Entry(key=key, since=now, touched=now)
        elif entry.key != key:
            entry.key, entry.since = key, now  # still changing: start the clock again
        entry.touched = now
        if now - entry.since >= self.settle_seconds:
            del self._entries[path]
            return True
        due = entry.since + self.settle_seconds
        if self._next_due is None or due < self._next_due:
            self._next_due = due
        return False

    def next_due(self) -> float | None:
        """The earliest time a file refused so far may be ready (clock() units); None if none waits."""
        return self._next_due

    def begin_round(self) -> None:
        self._next_due = None

    def forget_stale(self) -> None:
        """Drop entries nobody asked about for a while (files that were deleted, or never became pending)."""
        cutoff = self.clock() - max(FORGET_AFTER, self.settle_seconds * 4)
        for path in [path for path, entry in self._entries.items() if entry.touched < cutoff]:
            del self._entries[path]
