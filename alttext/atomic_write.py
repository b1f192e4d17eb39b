"""Replacing a file atomically: readers (a web server, a browser, a build) see the old bytes or the new
ones, never half a file, and a crash leaves the original intact."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable


def write_atomically(path: str, chunks: Iterable[bytes]) -> None:
    """Write to a temporary file beside ``path`` (same file system, so os.replace is atomic), flush it to
    disk, then rename it over ``path``. An existing file's permission bits are kept."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    handle, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".alttext-tmp",
                                         dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            for chunk in chunks:
                stream.write(chunk)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        else:  # mkstemp creates 0600; a new export should get the usual umask-derived mode
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
