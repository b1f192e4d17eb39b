"""When the daemon's writer looks at what: folders with events (debounced) and folders it can't read.

Pure bookkeeping on monotonic times, no I/O: the loop (``alttext.watch.loop``) asks what is due, scans
it, and reports back. Kept apart so the loop reads as the order of its steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alttext.paths import is_under

# (folder, recursive): what one reconcile pass covered
Scope = tuple[str, bool]


@dataclass
class _Dirty:
    first: float
    last: float


class DirtyFolders:
    """Folders (or whole subtrees) with file events: each is scanned once its events pause for
    ``debounce`` seconds, or at the latest ``max_delay`` after the first, so a burst costs one scan."""

    def __init__(self, debounce: float, max_delay: float) -> None:
        self.debounce = debounce
        self.max_delay = max_delay
        self._entries: dict[str, _Dirty] = {}

    def mark(self, path: str, now: float) -> None:
        entry = self._entries.get(path)
        if entry is None:
            self._entries[path] = _Dirty(now, now)
        else:
            entry.last = now

    def clear(self) -> None:
        self._entries.clear()

    def due_times(self) -> list[float]:
        return [min(entry.last + self.debounce, entry.first + self.max_delay) for entry in self._entries.values()]

    def take_ready(self, now: float) -> list[str]:
        ready = [path for path, entry in self._entries.items()
                 if now - entry.last >= self.debounce or now - entry.first >= self.max_delay]
        for path in ready:
            del self._entries[path]
        return ready


def outermost(trees: Iterable[str]) -> list[str]:
    """The trees not inside another one of them, sorted."""
    trees = sorted(trees)
    return [tree for tree in trees if not any(other != tree and is_under(tree, other) for other in trees)]


@dataclass
class _Unreadable:
    next_try: float
    delay: float


class UnreadableFolders:
    """Folders a scan could not read, looked at again after ``first_retry`` seconds, then twice as long
    each time, at most ``longest_retry``; forgotten once a scan that covers them can read them (or they
    are gone)."""

    def __init__(self, first_retry: float, longest_retry: float) -> None:
        self.first_retry = first_retry
        self.longest_retry = max(longest_retry, first_retry)
        self._entries: dict[str, _Unreadable] = {}

    def __contains__(self, folder: str) -> bool:
        return folder in self._entries

    def note(self, found: list[str], scopes: list[Scope] | None, now: float) -> list[str]:
        """Record what a scan could not read; ``scopes`` is what it covered (None: everything). Returns
        the folders it covered that are no longer unreadable."""
        for folder in found:
            entry = self._entries.get(folder)
            if entry is None:
                self._entries[folder] = _Unreadable(now + self.first_retry, self.first_retry)
            else:
                entry.delay = min(entry.delay * 2, self.longest_retry)
                entry.next_try = now + entry.delay
        resolved = [
            folder for folder in self._entries
            if folder not in found and (scopes is None or any(
                folder == scope or (recursive and is_under(folder, scope)) for scope, recursive in scopes))
        ]
        for folder in resolved:
            del self._entries[folder]
        return resolved

    def due(self, now: float) -> list[str]:
        return [folder for folder, entry in self._entries.items() if now >= entry.next_try]

    def due_times(self) -> list[float]:
        return [entry.next_try for entry in self._entries.values()]

    def forget(self, folder: str) -> None:
        self._entries.pop(folder, None)
