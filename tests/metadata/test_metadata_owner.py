"""Embedding keeps the photo's owner, group and mode, or refuses the file and leaves it alone.

An atomic replace puts a new inode in place, created by whoever runs alttext. When that is the system
unit's user and it may not give the file back to its owner, the photo would change hands (and its owner
might no longer write it). The real tests with other users need root; the simulated ones run anywhere.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from metadata_helpers import build_jpeg_plain, sha, temp_files

from alttext.metadata import Status, atomic, embed

IS_ROOT = os.geteuid() == 0
requires_root = pytest.mark.skipif(not IS_ROOT, reason="needs root to make files owned by other users")

# Ids no real account uses: the photo's owner, the service's user and group, the shared group.
OWNER_UID, OWNER_GID = 54321, 54321
SERVICE_UID, SERVICE_GID = 54322, 54322
SHARED_GID = 54330


def ownership(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o664], ids=oct)
def test_mode_owner_and_group_are_kept(photos, mode: int) -> None:
    path = photos("jpeg_plain")
    path.chmod(mode)
    uid, gid, _ = ownership(path)
    result = embed(path, "An astronaut.")
    assert result.status is Status.WRITTEN, result.error
    assert ownership(path) == (uid, gid, mode)


def test_another_group_of_ours_is_kept(photos) -> None:
    path = photos("jpeg_plain")
    others = [g for g in os.getgroups() if g != os.getegid()]
    gid = SHARED_GID if IS_ROOT else (others[0] if others else None)
    if gid is None:
        pytest.skip("the test user is in no second group")
    os.chown(path, -1, gid)
    path.chmod(0o664)
    result = embed(path, "An astronaut.")
    assert result.status is Status.WRITTEN, result.error
    assert ownership(path) == (os.geteuid(), gid, 0o664)


@requires_root
@pytest.mark.parametrize("mode", [0o664, 0o2775], ids=oct)
def test_root_gives_the_file_back_to_its_owner_with_its_mode(photos, mode: int) -> None:
    path = photos("jpeg_plain")
    os.chown(path, OWNER_UID, SHARED_GID)
    path.chmod(mode)  # after the chown, which clears setgid; 0o2775: a photo copied from a FAT card
    result = embed(path, "An astronaut.")
    assert result.status is Status.WRITTEN, result.error
    assert ownership(path) == (OWNER_UID, SHARED_GID, mode)


def _pretend_owned_by_someone_else(monkeypatch, path: Path, field: str) -> None:
    """The snapshot says another user/group owns the photo, and the kernel refuses the chown: what a
    service user sees with someone else's photo."""
    real_snapshot = atomic.take_snapshot

    def snapshot(name: str) -> atomic.Snapshot:
        snap = real_snapshot(name)
        if name == str(path):
            snap = dataclasses.replace(snap, **{field: getattr(snap, field) + 1})
        return snap

    def no_chown(*args: object) -> None:
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(atomic, "take_snapshot", snapshot)
    monkeypatch.setattr(atomic.os, "fchown", no_chown)


@pytest.mark.parametrize(("field", "word"), [("uid", "owner"), ("gid", "group")])
def test_a_file_that_would_change_hands_is_refused(photos, monkeypatch, field: str, word: str) -> None:
    path = photos("jpeg_plain")
    before, before_stat = sha(path), ownership(path)
    _pretend_owned_by_someone_else(monkeypatch, path, field)
    result = embed(path, "An astronaut.")
    assert result.status is Status.FAILED
    assert result.error and f"would change the file's {word} from " in result.error, result.error
    assert "systemd/README.md" in result.error and "\n" not in result.error
    assert sha(path) == before and ownership(path) == before_stat
    assert temp_files(path.parent) == []


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder other users can reach (pytest's own tmp folder is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="alttext-owner-"))
    folder.chmod(0o755)
    try:
        yield folder / "photos"
    finally:
        shutil.rmtree(folder)


def _embed_as(uid: int, gid: int, path: Path) -> dict[str, str | None]:
    """embed() in a forked child that has dropped root for ``uid``/``gid`` plus the shared group (a
    fresh interpreter could not run: this venv's Python lives under /root)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            os.setgroups([SHARED_GID])
            os.setgid(gid)
            os.setuid(uid)
            result = embed(path, "An astronaut.")
            os.write(write_end, json.dumps({"status": result.status.value, "error": result.error}).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stream:
        answer = stream.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and answer, "the child process failed"
    return json.loads(answer)


@requires_root
@pytest.mark.parametrize("setgid_folder", [False, True])
def test_service_user_in_the_shared_group_leaves_someone_elses_photo_alone(
    shared_folder: Path, setgid_folder: bool
) -> None:
    shared_folder.mkdir()
    os.chown(shared_folder, OWNER_UID, SHARED_GID)
    shared_folder.chmod(0o2775 if setgid_folder else 0o775)
    path = build_jpeg_plain(shared_folder)
    os.chown(path, OWNER_UID, SHARED_GID)
    path.chmod(0o664)
    before, inode = sha(path), os.stat(path).st_ino

    result = _embed_as(SERVICE_UID, SERVICE_GID, path)

    assert result["status"] == "failed"
    assert result["error"] and "would change the file's owner from 54321 to 54322" in result["error"]
    assert sha(path) == before and os.stat(path).st_ino == inode
    assert ownership(path) == (OWNER_UID, SHARED_GID, 0o664)
    assert temp_files(shared_folder) == []


@requires_root
def test_the_photos_owner_keeps_the_shared_group(shared_folder: Path) -> None:
    shared_folder.mkdir()
    os.chown(shared_folder, OWNER_UID, SHARED_GID)
    shared_folder.chmod(0o775)  # no setgid: the new inode starts in the owner's own group
    path = build_jpeg_plain(shared_folder)
    os.chown(path, OWNER_UID, SHARED_GID)
    path.chmod(0o664)

    result = _embed_as(OWNER_UID, OWNER_GID, path)

    assert result["status"] == "written", result["error"]
    assert ownership(path) == (OWNER_UID, SHARED_GID, 0o664)
