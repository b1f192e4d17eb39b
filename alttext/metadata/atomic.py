"""Crash-safe replacement of one file: snapshot, temp copy beside it, re-check, atomic rename.

A temp file is named ``.<NAME>.alttext-tmp-<8 random chars>`` (hidden, in the same folder as NAME so
that ``os.replace`` is atomic; NAME is cut to 150 characters). exiftool, when it writes into such a temp
copy, adds its own ``…_exiftool_tmp`` beside it. Folder watchers must ignore ``.*.alttext-tmp-*``.

While a process works on a temp file it holds an exclusive ``flock`` on it; the lock dies with the
process, so a temp file whose lock can be taken belongs to a process that was killed, and
:func:`clean_stale_temp_files` removes it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import hashlib
import os
import pwd
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass

TEMP_MARKER = ".alttext-tmp-"
EXIFTOOL_TEMP_SUFFIX = "_exiftool_tmp"
BACKUP_SUFFIX = "_original"  # like exiftool: IMG.jpg -> IMG.jpg_original
_NAME_MAX = 150


class SafetyError(Exception):
    """A per-file problem that stopped the write; the message is one line for the user."""


def checkpoint(stage: str, path: str) -> None:
    """No-op hook called at each stage ("snapshot", "temp-written", "before-replace"); tests patch it
    to simulate another program touching the file at exactly that moment."""


def temp_prefix(name: str) -> str:
    return "." + name[:_NAME_MAX] + TEMP_MARKER


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and TEMP_MARKER in name


def os_error_text(exc: OSError, action: str) -> str:
    """'<action>: <reason>' with the usual causes spelled out."""
    reasons = {
        errno.ENOSPC: "no space left on device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.ENOENT: "file vanished",
        errno.ENAMETOOLONG: "file name too long",
    }
    reason = reasons.get(exc.errno or 0) or exc.strerror or str(exc)
    return f"{action}: {reason}"


@dataclass(frozen=True)
class Snapshot:
    """A file as it was when alttext read it (``exists`` False for a sidecar not yet written)."""

    path: str
    exists: bool
    data: bytes = b""
    sha256: str = ""
    dev: int = 0
    ino: int = 0
    size: int = 0
    mtime_ns: int = 0
    atime_ns: int = 0
    mode: int = 0
    uid: int = -1
    gid: int = -1
    nlink: int = 1

    def same_stat(self, st: os.stat_result) -> bool:
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (
            self.dev, self.ino, self.size, self.mtime_ns,
        )


def take_snapshot(path: str) -> Snapshot:
    """Read ``path`` whole and record what it was; raises SafetyError (or returns exists=False)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return Snapshot(path, exists=False)
    except OSError as exc:
        raise SafetyError(os_error_text(exc, "cannot open the file")) from exc
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise SafetyError("not a regular file")
        with os.fdopen(os.dup(fd), "rb") as stream:
            data = stream.read()
        after = os.fstat(fd)
    except OSError as exc:
        raise SafetyError(os_error_text(exc, "cannot read the file")) from exc
    finally:
        os.close(fd)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(data) != after.st_size:
        raise SafetyError("the file changed while it was being read (still being copied?)")
    return Snapshot(
        path=path, exists=True, data=data, sha256=hashlib.sha256(data).hexdigest(),
        dev=after.st_dev, ino=after.st_ino, size=after.st_size, mtime_ns=after.st_mtime_ns,
        atime_ns=after.st_atime_ns, mode=after.st_mode, uid=after.st_uid, gid=after.st_gid,
        nlink=after.st_nlink,
    )


def _still_same(snap: Snapshot) -> str | None:
    """None if the file is exactly as snapshotted, else why not."""
    try:
        st = os.stat(snap.path, follow_symlinks=False)
    except FileNotFoundError:
        return None if not snap.exists else "the file was deleted or renamed meanwhile"
    except OSError as exc:
        return os_error_text(exc, "cannot re-check the file")
    if not snap.exists:
        return "a file of that name appeared meanwhile"
    if not snap.same_stat(st):
        return "the file was changed or replaced by another program meanwhile"
    try:
        with open(snap.path, "rb") as stream:
            digest = hashlib.file_digest(stream, "sha256").hexdigest()
    except OSError as exc:
        return os_error_text(exc, "cannot re-read the file")
    if digest != snap.sha256:
        return "the file's content changed meanwhile"
    return None


def is_read_only(path: str) -> bool:
    """No write permission bit at all, or no access for us. The bits count even for root: a user who
    made a file read-only does not want it rewritten."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return not (st.st_mode & 0o222) or not os.access(path, os.W_OK)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class TempFile:
    """A locked temp file beside ``target``; :meth:`discard` removes it unless it was committed."""

    def __init__(self, target: str) -> None:
        self.target = target
        folder, name = os.path.split(target)
        self.folder = folder or "."
        try:
            self.fd, self.path = tempfile.mkstemp(prefix=temp_prefix(name), dir=self.folder)
        except OSError as exc:
            raise SafetyError(os_error_text(exc, "cannot create a temp file in the folder")) from exc
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.committed = False

    def write(self, data: bytes) -> None:
        try:
            os.ftruncate(self.fd, 0)
            os.lseek(self.fd, 0, os.SEEK_SET)
            _write_all(self.fd, data)
            os.fsync(self.fd)
        except OSError as exc:
            raise SafetyError(os_error_text(exc, "cannot write the temp copy")) from exc

    def finish(self, like: Snapshot | None, *, keep_mtime: bool, default_mode: int = 0o644) -> None:
        """Give the temp file the original's owner, group, permissions, xattrs (and times), then fsync.

        Raises SafetyError when the owner or group cannot be kept (see :func:`_keep_owner`)."""
        try:
            if like is not None and like.exists:
                _keep_owner(self.fd, like.uid, like.gid)
                # After the chown: changing the owner clears the setuid/setgid bits.
                os.fchmod(self.fd, stat.S_IMODE(like.mode))
                _copy_xattrs(like.path, self.fd)
                if keep_mtime:
                    os.utime(self.fd, ns=(like.atime_ns, like.mtime_ns))
            else:
                os.fchmod(self.fd, default_mode)
            os.fsync(self.fd)
        except OSError as exc:
            raise SafetyError(os_error_text(exc, "cannot set the temp copy's attributes")) from exc

    def read_back(self) -> bytes:
        """What actually landed on disk, read through the path (as the next reader will)."""
        try:
            with open(self.path, "rb") as stream:
                return stream.read()
        except OSError as exc:
            raise SafetyError(os_error_text(exc, "cannot read the temp copy back")) from exc

    def stat(self) -> os.stat_result:
        return os.fstat(self.fd)

    def commit(self, snap: Snapshot, *, backup: bool = False) -> str | None:
        """Atomically put the temp file at ``target`` if it is still exactly ``snap``.

        Returns the backup's path when one was made. A target that did not exist is created with
        ``link`` so that a file appearing meanwhile is never clobbered.
        """
        checkpoint("before-replace", self.target)
        problem = _still_same(snap)
        if problem:
            raise SafetyError(f"not written: {problem}")
        backup_path = None
        try:
            if backup and snap.exists:
                backup_path = _make_backup(self.target)
            if snap.exists:
                os.replace(self.path, self.target)
            else:
                _link_no_clobber(self.path, self.target)
            self.committed = True
        except OSError as exc:
            if backup_path:  # the file was not replaced: a backup of it would only confuse
                with contextlib.suppress(OSError):
                    os.unlink(backup_path)
            if isinstance(exc, FileExistsError):
                raise SafetyError("not written: a file of that name appeared meanwhile") from exc
            raise SafetyError(os_error_text(exc, "cannot replace the file")) from exc
        with contextlib.suppress(OSError):  # the rename is done; a failed directory fsync changes nothing
            _fsync_dir(self.folder)
        return backup_path

    def discard(self) -> None:
        if not self.committed:
            for path in (self.path, self.path + EXIFTOOL_TEMP_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def __enter__(self) -> TempFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except (KeyError, OverflowError):
        return str(gid)


def _keep_owner(fd: int, uid: int, gid: int) -> None:
    """Give the temp file (a new inode, owned by whoever runs alttext) the original's owner and group.

    Only root (CAP_CHOWN) may give a file away, and only a member of a group may give it that group.
    Where that is not allowed, the replaced file would change hands: its owner might no longer be able
    to write their own photo. Such a file is refused rather than given away."""
    st = os.fstat(fd)
    new_uid = uid if uid != st.st_uid else -1
    new_gid = gid if gid != st.st_gid else -1
    if new_uid == -1 and new_gid == -1:
        return
    try:
        os.fchown(fd, new_uid, new_gid)
    except PermissionError as exc:
        if new_uid != -1:
            change = f"owner from {_user_name(uid)} to {_user_name(st.st_uid)}"
        else:
            change = f"group from {_group_name(gid)} to {_group_name(st.st_gid)}"
        raise SafetyError(f"not written: it would change the file's {change}; run alttext as the file's owner "
                          "or see systemd/README.md") from exc


def _copy_xattrs(src: str, fd: int) -> None:
    # user.* attributes (tags, Baloo/Tracker data) belong to the file, not to one inode.
    try:
        names = os.listxattr(src)
    except OSError:
        return
    for name in names:
        with contextlib.suppress(OSError):
            os.setxattr(fd, name, os.getxattr(src, name))


def _make_backup(target: str) -> str | None:
    """``NAME_original`` as a hard link to the current file (no copy, same times). An existing backup
    is kept: it holds the oldest original."""
    backup = target + BACKUP_SUFFIX
    if os.path.lexists(backup):
        return None
    try:
        os.link(target, backup)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        shutil.copy2(target, backup)  # file systems without hard links (FAT, some network mounts)
    return backup


def _link_no_clobber(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if os.path.lexists(dst):  # no hard links here: check-then-rename, a tiny race accepted
            raise FileExistsError(dst) from exc
        os.replace(src, dst)
        return
    os.unlink(src)


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_cleaned: set[str] = set()
_cleaned_lock = threading.Lock()


def clean_stale_temp_files(folder: str) -> list[str]:
    """Remove temp files left by killed alttext processes in ``folder``; returns their paths.

    A temp file still locked belongs to a live process and is left alone.
    """
    removed: list[str] = []
    try:
        names = [entry.name for entry in os.scandir(folder) if is_temp_name(entry.name)]
    except OSError:
        return removed
    for name in sorted(names):
        path = os.path.join(folder, name)
        if name.endswith(EXIFTOOL_TEMP_SUFFIX):
            continue  # judged with its alttext temp file below
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # locked: a live process is using it
        try:
            os.unlink(path)
            removed.append(path)
        except OSError:
            pass
        finally:
            os.close(fd)
    for name in names:
        if name.endswith(EXIFTOOL_TEMP_SUFFIX):
            path = os.path.join(folder, name)
            base = path[: -len(EXIFTOOL_TEMP_SUFFIX)]
            if not os.path.lexists(base):
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    removed.append(path)
    return removed


def clean_folder_once(folder: str) -> list[str]:
    """:func:`clean_stale_temp_files` the first time a folder is seen in this process (a folder
    listing per file would make large folders quadratic)."""
    key = os.path.abspath(folder)
    with _cleaned_lock:
        if key in _cleaned:
            return []
        _cleaned.add(key)
    return clean_stale_temp_files(key)
