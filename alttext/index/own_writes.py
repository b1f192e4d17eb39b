"""Our own metadata writes must not look like new photos (docs/architecture.md §2).

Writing alt text into a file changes its bytes, size, mtime and (temp copy + rename) inode, though not
its pixels. Two layers keep that cheap:

1. :func:`record_own_write`: the writer tells the index the file's new stat right after ``os.replace``.
   The watcher's event for that write then reconciles to "unchanged": nothing is read at all.
2. If the event wins the race (or the writer is another program), the file is re-read once: its pixel
   hash is already known, so the caption is re-used with no model call; a decode is the whole cost.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import update

from alttext.index.db import Index
from alttext.index.models import INDEXED, files


def _parts(info: Any) -> tuple[int, int, int, int | None]:
    """(size, mtime_ns, inode, device or None) of an ``os.stat_result`` or a ``FileStat``-like object."""
    if isinstance(info, os.stat_result):
        return info.st_size, info.st_mtime_ns, info.st_ino, info.st_dev
    return int(info.size), int(info.mtime_ns), int(info.inode), getattr(info, "dev", None)


def record_own_write(index: Index, path: str | os.PathLike[str], stat: Any, *, before: Any = None) -> bool:
    """Record that alttext itself just rewrote ``path`` without touching its pixels.

    ``stat`` is the file's stat after the write: an ``os.stat_result`` or anything with ``size``,
    ``mtime_ns`` and ``inode`` (``alttext.metadata.FileStat``). ``before``, the stat the writer read
    before writing, makes it stricter: the row is only updated while the index still holds that stat,
    so a change someone else made in between is not hidden. Only an ``indexed`` file with an image is
    updated (a pending one is read anyway). Returns whether the index row was updated.
    """
    size, mtime_ns, inode, dev = _parts(stat)
    conditions = [files.c.path == os.path.abspath(os.fspath(path)), files.c.state == INDEXED,
                  files.c.image_id.is_not(None)]
    if before is not None:
        old_size, old_mtime_ns, old_inode, old_dev = _parts(before)
        conditions += [files.c.size == old_size, files.c.mtime_ns == old_mtime_ns, files.c.inode == old_inode]
        if old_dev is not None:
            conditions.append(files.c.dev == old_dev)
    values: dict[str, int] = {"size": size, "mtime_ns": mtime_ns, "inode": inode}
    if dev is not None:
        values["dev"] = dev
    with index.write() as connection:
        return connection.execute(update(files).where(*conditions).values(**values)).rowcount > 0
