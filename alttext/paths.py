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
