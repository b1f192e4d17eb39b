"""The one rule for "is this path inside that folder", as strings and as a byte range for SQL.

A folder contains itself and everything below it, by whole path components: ``/photos/2024`` is not
inside ``/photos/20``. Paths are compared as given (absolute, not resolved): the index stores the path
a file was found under, symlinks and all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable


def is_under(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or below it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def is_under_any(path: str, folders: Iterable[str]) -> bool:
    return any(is_under(path, folder) for folder in folders)


def display_path(path: str) -> str:
    """A path (or any text) as valid UTF-8 for a terminal, a page or an export: file names may hold bytes
    that are not UTF-8 (surrogate escapes, see ``index.models.FsPath``); those become U+FFFD."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        try:
            return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:  # a lone surrogate that no file-system byte produced
            return path.encode("utf-8", "replace").decode("utf-8")


def folder_range(folder: str) -> tuple[bytes, bytes]:
    """The byte range ``[low, high)`` of the stored paths (raw bytes, see ``index.models.FsPath``) below
    ``folder``: ``/`` + 1 is ``0``, so every path starting with ``folder/`` sorts inside it."""
    prefix = os.fsencode(os.path.abspath(folder)).rstrip(b"/") + b"/"
    return prefix, prefix[:-1] + b"0"


def folders_below_root(folder: str, root: str | None) -> str:
    """The folders from ``root`` down to ``folder`` ("2024/Holiday Spain"), as display text, so that a
    search finds photos by the folders people sort them into; just the folder's own name when it isn't
    below ``root`` (or there is none), and "" for the root itself."""
    if root and is_under(folder, root):
        below = os.path.relpath(folder, root)
        return "" if below == os.curdir else display_path(below)
    return display_path(os.path.basename(folder.rstrip(os.sep)))


class PathMap:
    """Where this machine finds the files the index names, for a worker whose mounts differ from the
    watcher's (docs/architecture.md §16): ``"/srv/photos=/mnt/photos"`` reads ``/srv/photos/a.jpg`` as
    ``/mnt/photos/a.jpg``. Several pairs are separated by ``;``; the longest matching folder wins, by whole
    path components (``is_under``); a path under none is read as it is."""

    def __init__(self, spec: str | None) -> None:
        self.pairs: list[tuple[str, str]] = []
        for part in (spec or "").split(";"):
            if not part.strip():
                continue
            index_folder, sep, local_folder = part.partition("=")
            index_folder, local_folder = index_folder.strip().rstrip(os.sep), local_folder.strip().rstrip(os.sep)
            if not sep or not os.path.isabs(index_folder or os.sep) or not os.path.isabs(local_folder or os.sep):
                raise ValueError(f"not a path map entry: {part.strip()!r} (use /index/folder=/local/folder)")
            self.pairs.append((index_folder or os.sep, local_folder or os.sep))
        self.pairs.sort(key=lambda pair: len(pair[0]), reverse=True)

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def local(self, path: str) -> str:
        for index_folder, local_folder in self.pairs:
            if is_under(path, index_folder):
                rest = path[len(index_folder):].lstrip(os.sep)
                return os.path.join(local_folder, rest) if rest else local_folder
        return path
