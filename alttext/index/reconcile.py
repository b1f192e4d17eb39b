"""The reconcile scan: make the index's list of files match the disk (docs/architecture.md §1: scans are the truth).

Walks each root one folder at a time, compares each file's stat tuple with the index's row for that
folder (one indexed query per folder, no hashing, no decoding), and records what changed:

- new or changed files become ``pending`` (the durable work queue that ingest then drains);
- files gone from disk become ``missing`` (never erased: they keep their caption if they come back),
  except files that were never read (no image: pending or failed, or found gone by ingest): such a row
  holds nothing worth keeping, and a photo nobody will see again is not a missing photo, so it is dropped;
- a new path whose (device, inode, size, mtime) matches a file that just went missing is a move or
  rename: the old row takes the new path and keeps its image and caption.

An unreadable folder is reported and its known files are left alone rather than marked missing.
A symbolic link to a folder is not followed (it can lead outside the roots, or loop): the scan names the
links it passed over, once (docs/architecture.md §10).
"""

from __future__ import annotations

import logging
import os
import stat as stat_module
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, delete, insert, or_, select, update

from alttext.images import is_image_name
from alttext.index.db import Index, driver_connection
from alttext.index.models import (
    FAILED,
    FILE_JOB_KINDS,
    INDEXED,
    MISSING,
    PENDING,
    files,
    inserted_id,
    jobs,
    roots,
    utcnow,
)
from alttext.paths import display_path, folders_below_root, is_under, is_under_any

logger = logging.getLogger(__name__)

# Failed files are retried on later scans until they have failed this often with the same stat.
MAX_ATTEMPTS = 3
FLUSH_EVERY = 2000  # row changes per write transaction during a walk


@dataclass
class ReconcileReport:
    new: int = 0
    changed: int = 0
    moved: int = 0
    unchanged: int = 0
    missing: int = 0
    restored: int = 0
    held_back: int = 0  # still failed, not tried again: failed MAX_ATTEMPTS times as it is (still counted failed)
    dropped: int = 0  # rows of files gone before they were ever read (not missing photos)
    unreadable_dirs: list[str] = field(default_factory=list)
    skipped_links: list[str] = field(default_factory=list)  # links to folders, not followed


@dataclass
class _Pending:
    """Row changes collected while walking, written in batches."""

    inserts: list[dict[str, object]] = field(default_factory=list)
    updates: list[dict[str, object]] = field(default_factory=list)
    missing_ids: list[int] = field(default_factory=list)
    dropped_ids: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.inserts) + len(self.updates) + len(self.missing_ids) + len(self.dropped_ids)


def display_name(path: str) -> str:
    return display_path(os.path.basename(path))


def _image_files(folder: str, unreadable: list[str], links: list[str] | None = None
                 ) -> tuple[list[tuple[str, os.stat_result]], list[str]]:
    """Image files (path, stat) and subfolders of one folder; unreadable folders are noted, not fatal,
    and links to folders (not followed) are added to ``links``."""
    found: list[tuple[str, os.stat_result]] = []
    subfolders: list[str] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if not entry.name.startswith("."):
                            subfolders.append(entry.path)
                    elif links is not None and entry.is_symlink() and entry.is_dir():
                        if not entry.name.startswith("."):
                            links.append(entry.path)
                    elif is_image_name(entry.name):
                        info = entry.stat()  # follows symlinks: a link to a photo is a photo
                        if stat_module.S_ISREG(info.st_mode):
                            found.append((entry.path, info))
                except OSError:
                    continue  # vanished or dangling link between listing and stat
    except OSError as exc:
        logger.warning("cannot read folder %s: %s", folder, exc.strerror or exc)
        unreadable.append(folder)
    return found, subfolders


def walk(root: str, unreadable: list[str], *, recursive: bool = True, links: list[str] | None = None
         ) -> Iterator[tuple[str, list[tuple[str, os.stat_result]]]]:
    """(folder, image files) for every folder below root (only root itself unless ``recursive``), depth
    first, sorted for stable order; links to folders are collected in ``links`` when given."""
    stack = [root]
    while stack:
        folder = stack.pop()
        found, subfolders = _image_files(folder, unreadable, links)
        if recursive:
            stack.extend(sorted(subfolders, reverse=True))
        yield folder, found


class _KnownFile(NamedTuple):
    id: int
    dev: int
    inode: int
    size: int
    mtime_ns: int
    state: str
    image_id: int | None
    attempts: int


_KNOWN_SQL = "SELECT path, id, dev, inode, size, mtime_ns, state, image_id, attempts FROM files WHERE dir = ?"


def _known_files(raw: Any, folder: str) -> dict[str, _KnownFile]:
    """The index's rows for one folder, by path. Run for every folder of every rescan: plain sqlite3."""
    return {
        os.fsdecode(row[0]): _KnownFile(*row[1:])
        for row in raw.execute(_KNOWN_SQL, (os.fsencode(folder),))
    }


def ensure_root(connection: Connection, path: str) -> int:
    row = connection.execute(select(roots.c.id).where(roots.c.path == path)).first()
    if row:
        return int(row.id)
    return inserted_id(connection.execute(insert(roots).values(path=path, added_at=utcnow())))


class Reconciler:
    def __init__(self, index: Index, on_progress: Callable[[int], None] | None = None) -> None:
        self.index = index
        self.on_progress = on_progress
        self.report = ReconcileReport()
        self._new_ids_min: int | None = None
        self._missing_now: set[int] = set()  # went missing in this scan (a move's old half)

    def _flush(self, pending: _Pending) -> None:
        if not len(pending):
            return
        now = utcnow()
        with self.index.write() as connection:
            if pending.inserts:
                result = connection.execute(insert(files).returning(files.c.id), pending.inserts)
                ids = [row.id for row in result]
                if ids and self._new_ids_min is None:
                    self._new_ids_min = min(ids)
            if pending.updates:
                connection.execute(
                    update(files)
                    .where(files.c.id == bindparam("_id"))
                    .values(
                        dev=bindparam("dev"),
                        inode=bindparam("inode"),
                        size=bindparam("size"),
                        mtime_ns=bindparam("mtime_ns"),
                        state=bindparam("state"),
                        missing_since=None,
                        seen_at=now,
                    ),
                    pending.updates,
                )
            if pending.missing_ids:
                self._missing_now.update(pending.missing_ids)
                for start in range(0, len(pending.missing_ids), 500):
                    chunk = pending.missing_ids[start : start + 500]
                    connection.execute(
                        update(files).where(files.c.id.in_(chunk)).values(state=MISSING, missing_since=now)
                    )
            for start in range(0, len(pending.dropped_ids), 500):
                chunk = pending.dropped_ids[start : start + 500]
                connection.execute(delete(jobs).where(jobs.c.kind.in_(FILE_JOB_KINDS), jobs.c.target_id.in_(chunk)))
                connection.execute(delete(files).where(files.c.id.in_(chunk), files.c.image_id.is_(None)))
        if self.on_progress:
            self.on_progress(len(pending))
        pending.inserts.clear()
        pending.updates.clear()
        pending.missing_ids.clear()
        pending.dropped_ids.clear()

    def scan_root(self, root: str, *, below: str | None = None, recursive: bool = True) -> None:
        """Reconcile a root. With ``below``, only that folder of the root (and its subfolders when
        ``recursive``): the watch daemon's scan after an event. A ``below`` folder that no longer exists
        (deleted or moved away) has the files the index knew in it marked missing.

        ``on_progress(0)`` is also called after each folder, so a long walk over unchanged files still
        shows signs of life (the daemon's heartbeat); an exception it raises stops the scan safely.
        """
        root = os.path.abspath(root)
        top = root if below is None else os.path.abspath(below)
        with self.index.write() as connection:
            root_id = ensure_root(connection, root)
        report = self.report
        pending = _Pending()
        visited: set[str] = set()
        now = utcnow()
        query = select(
            files.c.id, files.c.path, files.c.dev, files.c.inode, files.c.size, files.c.mtime_ns,
            files.c.state, files.c.image_id, files.c.attempts,
        ).where(files.c.dir == bindparam("folder"))
        folders = walk(top, report.unreadable_dirs, recursive=recursive, links=report.skipped_links)
        if top != root and not os.path.isdir(top) and os.path.isdir(root):
            folders = iter(())  # the folder went away; its files are found missing below
        with self.index.read() as reader:
            raw = driver_connection(reader)  # the hot per-folder query skips SQLAlchemy's row layer
            for folder, found in folders:
                if self.on_progress:
                    self.on_progress(0)
                visited.add(folder)
                if report.unreadable_dirs and report.unreadable_dirs[-1] == folder:
                    continue  # can't list it: its known files are not missing, just out of sight
                known = _known_files(raw, folder)
                for path, info in found:
                    row = known.pop(path, None)
                    stat_key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
                    if row is None:
                        report.new += 1
                        pending.inserts.append(
                            {
                                "root_id": root_id, "path": path, "dir": folder, "name": display_name(path),
                                "folder": folders_below_root(folder, root),
                                "dev": stat_key[0], "inode": stat_key[1], "size": stat_key[2],
                                "mtime_ns": stat_key[3], "state": PENDING, "attempts": 0, "seen_at": now,
                            }
                        )
                        continue
                    same = (row.dev, row.inode, row.size, row.mtime_ns) == stat_key
                    if same and row.state == INDEXED:
                        report.unchanged += 1
                        continue
                    if same and row.state == MISSING:
                        report.restored += 1
                        state = INDEXED if row.image_id is not None else PENDING
                    elif same and row.state == PENDING:
                        report.unchanged += 1  # still queued; ingest will get to it
                        continue
                    elif same and row.state == FAILED:
                        if row.attempts >= MAX_ATTEMPTS:
                            report.held_back += 1
                            continue
                        state = PENDING
                    else:
                        report.changed += 1
                        state = PENDING
                    pending.updates.append(
                        {
                            "_id": row.id, "dev": stat_key[0], "inode": stat_key[1], "size": stat_key[2],
                            "mtime_ns": stat_key[3], "state": state,
                        }
                    )
                for row in known.values():
                    self._gone(row.id, row.state, row.image_id, pending)
                if len(pending) >= FLUSH_EVERY:
                    self._flush(pending)
            # Folders that no longer exist (deleted or moved away as a whole).
            if below is not None and not recursive:
                candidates = [top]
            else:
                candidates = [
                    folder
                    for (folder,) in reader.execute(
                        select(files.c.dir).where(
                            files.c.root_id == root_id, or_(files.c.state != MISSING, files.c.image_id.is_(None))
                        ).distinct()
                    )
                    if below is None or is_under(folder, top)
                ]
            gone_dirs = [
                folder for folder in candidates
                if folder not in visited and not is_under_any(folder, report.unreadable_dirs)
            ]
            for folder in gone_dirs:
                for gone in reader.execute(query, {"folder": folder}):
                    self._gone(gone.id, gone.state, gone.image_id, pending)
        self._flush(pending)
        if below is None:
            with self.index.write() as connection:
                connection.execute(update(roots).where(roots.c.id == root_id).values(last_scan_at=utcnow()))

    def _gone(self, file_id: int, state: str, image_id: int | None, pending: _Pending) -> None:
        """A known file is no longer on disk: ``missing`` if it was ever read, else its row is dropped."""
        if image_id is None:
            self.report.dropped += 1
            pending.dropped_ids.append(file_id)
        elif state != MISSING:
            self.report.missing += 1
            pending.missing_ids.append(file_id)

    def match_moves(self) -> None:
        """Pair files that appeared in this scan with files that went missing: same inode and stat."""
        if self._new_ids_min is None:
            return
        new = files.alias("new")
        old = files.alias("old")
        pairs = select(new.c.id.label("new_id"), old.c.id.label("old_id"), new.c.path, new.c.dir, new.c.name,
                       new.c.folder, new.c.root_id).join(
            old,
            and_(
                old.c.inode == new.c.inode, old.c.dev == new.c.dev, old.c.size == new.c.size,
                old.c.mtime_ns == new.c.mtime_ns, old.c.state == MISSING, old.c.image_id.is_not(None),
            ),
        ).where(new.c.id >= self._new_ids_min, new.c.state == PENDING, new.c.image_id.is_(None))
        with self.index.write() as connection:
            used: set[int] = set()
            for pair in connection.execute(pairs).all():
                if pair.old_id in used:
                    continue  # hard links: one old row moves to one new path
                used.add(pair.old_id)
                connection.execute(delete(files).where(files.c.id == pair.new_id))
                connection.execute(
                    update(files)
                    .where(files.c.id == pair.old_id)
                    .values(path=pair.path, dir=pair.dir, name=pair.name, folder=pair.folder, root_id=pair.root_id,
                            state=INDEXED,
                            missing_since=None, seen_at=utcnow())
                )
                self.report.moved += 1
                self.report.new -= 1
                if pair.old_id in self._missing_now:
                    self.report.missing -= 1


def reconcile(index: Index, roots_to_scan: list[str], on_progress: Callable[[int], None] | None = None
              ) -> ReconcileReport:
    reconciler = Reconciler(index, on_progress)
    for root in roots_to_scan:
        reconciler.scan_root(root)
    reconciler.match_moves()
    note_skipped_links(reconciler.report.skipped_links)
    return reconciler.report


def note_skipped_links(links: list[str]) -> None:
    """One line for the whole scan, naming the links to folders it did not follow."""
    if links:
        logger.warning("%s", skipped_links_line(links))


def skipped_links_line(links: list[str]) -> str:
    shown = ", ".join(display_path(link) for link in sorted(links)[:5])
    more = f" and {len(links) - 5} more" if len(links) > 5 else ""
    return (f"not followed: {len(links)} link(s) to folders ({shown}{more}); a link can lead outside the"
            " scanned folders or loop, so scan its target by name to index it")
