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
