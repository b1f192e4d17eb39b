"""A disk that can't take a write (full, over quota, read-only) is one line and a non-zero exit, for
every command, not a traceback; nothing already saved is lost (issue 13, item 7).

The disk fills for real where SQLite allows it without root (``PRAGMA max_page_count`` makes SQLite
answer SQLITE_FULL, "database or disk is full", exactly as a full disk does); elsewhere a test double
raises at the seam (the write that would fail), and ``/dev/full`` stands in for a full disk under
standard output.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy.exc
from helpers import alttext_command
from planted import plant
from sqlalchemy import event
from sqlalchemy.pool import Pool

from alttext.index.db import Index


@pytest.fixture
def full_index(db: Path) -> Iterator[Path]:
    """From now on the index can't grow by a single page: SQLite's own "disk full"."""
    with Index(db):
        pass
    with sqlite3.connect(db) as connection:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]

    def cap(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(Pool, "connect", cap)
    yield db
    event.remove(Pool, "connect", cap)


def _one_line(result, what: str) -> str:  # (click.testing.Result)
    assert isinstance(result.exception, SystemExit), result.exception  # not an exception escaping the command
    assert result.exit_code == 1, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.output and len(lines) == 1, result.output
    assert lines[0].startswith(f"alttext: error: {what}"), lines[0]
    return lines[0]


def test_scan_on_a_full_disk_is_one_line(full_index: Path, tmp_path: Path, invoke) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(1500):  # more file rows than the free pages of a new index hold
        (photos / f"photo-{i:05d}.jpg").write_bytes(b"")
    line = _one_line(invoke("scan", str(photos)), "disk full while writing")
    assert str(full_index) in line and line.endswith("database or disk is full")
    with sqlite3.connect(full_index) as connection:  # the index is intact: the failed transaction left nothing
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_edit_on_a_full_disk_is_one_line(index: Index, tmp_path: Path, invoke, monkeypatch) -> None:
    plant(index, tmp_path / "photos", {"a.png": "A red kite over a green hill."})
    before = invoke("show", str(tmp_path / "photos" / "a.png")).stdout

    def full(*args: object, **kwargs: object) -> None:  # what SQLAlchemy raises when SQLite finds the disk full
        raise sqlalchemy.exc.OperationalError("INSERT INTO captions ...", {}, sqlite3.OperationalError(
            "database or disk is full"))

    monkeypatch.setattr("alttext.index.review.add_caption", full)
    line = _one_line(invoke("edit", str(tmp_path / "photos" / "a.png"), "Two kites."), "disk full while writing")
    assert "index.sqlite3" in line
    monkeypatch.undo()
    assert invoke("show", str(tmp_path / "photos" / "a.png")).stdout == before  # nothing lost, nothing half-done


@pytest.mark.parametrize(("code", "what"), [(errno.ENOSPC, "disk full"), (errno.EDQUOT, "disk quota exceeded"),
                                            (errno.EROFS, "read-only file system")])
def test_export_to_a_full_disk_is_one_line(index: Index, tmp_path: Path, invoke, monkeypatch, code: int,
                                           what: str) -> None:
    plant(index, tmp_path / "photos", {"a.png": "A red kite over a green hill."})

    def write_fails(path: str, chunks: object) -> None:  # the write of the temporary copy names no file
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr("alttext.atomic_write.write_atomically", write_fails)  # looked up per call
    out = tmp_path / "alt.csv"
    line = _one_line(invoke("export", "-o", str(out)), f"{what} while writing {out}")
    assert line.endswith(os.strerror(code)) and not out.exists()


def test_standard_output_on_a_full_disk_is_one_line(tmp_path: Path) -> None:
    """`alttext config --json > FILE` on a full disk: the real command, with /dev/full as its output."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        done = subprocess.run([*alttext_command(), "config", "--json"], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == ["alttext: error: disk full: No space left on device"], done.stderr


@pytest.mark.parametrize("backend", ["postgresql"])
def test_edit_on_a_full_database_server_is_one_line_without_the_password(
        index: Index, postgres_server, db: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import psycopg.errors
    from click.testing import CliRunner

    from alttext.cli import cli

    plant(index, tmp_path / "photos", {"a.png": "A red kite over a green hill."})
    user = postgres_server.user  # the test server trusts any password
    with_password = db.replace(f"://{user}@", f"://{user}:s3cret-pw@", 1)
    assert "s3cret-pw" in with_password

    def full(*args: object, **kwargs: object) -> None:  # what SQLAlchemy raises when the server's disk is full
        raise sqlalchemy.exc.OperationalError("INSERT INTO captions ...", {}, psycopg.errors.DiskFull(
            'could not extend file "base/16384/16400": No space left on device\nHINT:  Check free disk space.'))

    monkeypatch.setattr("alttext.index.review.add_caption", full)
    result = CliRunner().invoke(cli, ["--db", with_password, "edit", str(tmp_path / "photos" / "a.png"), "Two."])
    line = _one_line(result, "disk full on the database server while writing postgresql://")
    assert "s3cret-pw" not in result.output and line.endswith("No space left on device"), line
