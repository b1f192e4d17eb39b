"""The daemon's parts in-process: settle rules, event classification, retries with backoff, own writes,
the subtree scans the watcher asks of the reconcile code, systemd notifications, durations."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import PngImagePlugin
from sqlalchemy import insert, select, update
from watchdog.events import DirCreatedEvent, FileClosedEvent, FileCreatedEvent, FileModifiedEvent, FileMovedEvent
from watchkit import noise_image, write_photo

from alttext.cli.watch import parse_duration
from alttext.index import file_retries as retry
from alttext.index.db import Index
from alttext.index.models import FAILED, INDEXED, MISSING, PENDING, files, images, jobs, roots, utcnow
from alttext.index.own_writes import record_own_write
from alttext.index.reconcile import Reconciler, reconcile
from alttext.watch.notify import Notifier
from alttext.watch.observe import Hint, HintHandler
from alttext.watch.settle import Settler, stat_key

pytestmark = pytest.mark.both_backends  # the tests on the index (``index`` fixture): SQLite and PostgreSQL


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- settle -------------------------------------------------------------------------------------------
def test_a_file_is_ready_after_its_stat_holds_for_the_settle_window(tmp_path: Path) -> None:
    clock = Clock()
    settler = Settler(2.0, clock)
    path = tmp_path / "a.png"
    path.write_bytes(b"part")
    assert not settler.ready(str(path))  # first sight
    assert settler.next_due() == 1002.0
    clock.now += 1.5
    path.write_bytes(b"partial, longer")  # still being written: the clock starts again
    assert not settler.ready(str(path))
    clock.now += 1.9
    assert not settler.ready(str(path))
    clock.now += 0.2
    assert settler.ready(str(path))
    assert len(settler) == 0


def test_close_after_write_or_rename_into_place_makes_a_file_ready_at_once(tmp_path: Path) -> None:
    settler = Settler(60.0, Clock())
    path = tmp_path / "b.png"
    path.write_bytes(b"whole file")
    settler.completed(str(path), stat_key(str(path)))
    assert settler.ready(str(path))
    # A completion event that no longer matches (written again since) counts for nothing.
    settler.completed(str(path), stat_key(str(path)))
    with open(path, "ab") as handle:
        handle.write(b" and more")
    os.utime(path, ns=(1, 1))
    assert not settler.ready(str(path))


def test_a_vanished_or_unreadable_file_is_ready_so_that_ingest_records_why(tmp_path: Path) -> None:
    assert Settler(5.0, Clock()).ready(str(tmp_path / "gone.png"))


def test_stale_entries_are_forgotten(tmp_path: Path) -> None:
    clock = Clock()
    settler = Settler(1.0, clock)
    settler.completed(str(tmp_path / "never-pending.png"), (1, 2, 3, 4))
    clock.now += 1000
    settler.forget_stale()
    assert len(settler) == 0


# -- events -> hints ----------------------------------------------------------------------------------
def test_events_become_hints_and_temp_files_are_ignored(tmp_path: Path) -> None:
    hints: list[Hint] = []
    handler = HintHandler(hints.append)
    photo = write_photo(tmp_path / "p.png", 1)
    handler.dispatch(FileCreatedEvent(str(tmp_path / ".p.png.alttext-tmp-1234")))
    handler.dispatch(FileCreatedEvent(str(tmp_path / "download.jpg.part")))
    handler.dispatch(FileModifiedEvent(str(tmp_path / "notes.txt")))
    assert hints == []
    handler.dispatch(FileMovedEvent(str(tmp_path / ".p.png.tmp"), str(photo)))
    handler.dispatch(FileClosedEvent(str(photo)))
    handler.dispatch(FileCreatedEvent(str(photo)))
    handler.dispatch(DirCreatedEvent(str(tmp_path / "new-folder")))
    assert [(h.kind, h.path) for h in hints] == [
        ("complete", str(photo)), ("complete", str(photo)), ("file", str(photo)),
        ("tree", str(tmp_path / "new-folder")),
    ]
    assert hints[0].key == stat_key(str(photo))


def test_the_handler_never_raises(tmp_path: Path) -> None:
    def broken(_hint: Hint) -> None:
        raise RuntimeError("boom")

    HintHandler(broken).dispatch(FileCreatedEvent(str(tmp_path / "x.png")))  # logged, not raised


def test_symlinked_roots_map_back_to_the_path_given(tmp_path: Path) -> None:
    hints: list[Hint] = []
    handler = HintHandler(hints.append, {str(tmp_path / "real"): str(tmp_path / "link")})
    handler.dispatch(FileCreatedEvent(str(tmp_path / "real" / "a.png")))
    assert hints[0].path == str(tmp_path / "link" / "a.png")


# -- subtree scans (reconcile's ``below``) -----------------------------------------------------------
def _tree(root: Path) -> None:
    write_photo(root / "top.png", 1)
    write_photo(root / "sub" / "one.png", 2)
    write_photo(root / "sub" / "deeper" / "two.png", 3)


def _states(index: Index) -> dict[str, str]:
    with index.read() as connection:
        rows = connection.execute(select(files.c.path, files.c.state))
        return {os.path.basename(row.path): row.state for row in rows}


def test_a_folder_scan_sees_only_that_folder(index: Index, tmp_path: Path) -> None:
    root = tmp_path / "lib"
    _tree(root)
    reconciler = Reconciler(index)
    reconciler.scan_root(str(root), below=str(root / "sub"), recursive=False)
    assert _states(index) == {"one.png": PENDING}
    reconciler.scan_root(str(root), below=str(root / "sub"), recursive=True)
    assert _states(index) == {"one.png": PENDING, "two.png": PENDING}
    with index.read() as connection:  # a partial scan is not a full scan
        assert connection.execute(select(roots.c.last_scan_at)).scalar() is None


def test_a_folder_that_went_away_has_its_files_marked_missing(index: Index, tmp_path: Path) -> None:
    root = tmp_path / "lib"
    _tree(root)
    reconcile(index, [str(root)])
    _index_by_hand(index, root / "sub" / "one.png")
    _index_by_hand(index, root / "sub" / "deeper" / "two.png")
    (root / "sub").rename(tmp_path / "elsewhere")
    Reconciler(index).scan_root(str(root), below=str(root / "sub"), recursive=True)
    assert _states(index) == {"top.png": PENDING, "one.png": MISSING, "two.png": MISSING}


def test_a_vanished_root_marks_nothing_missing(index: Index, tmp_path: Path) -> None:
    root = tmp_path / "lib"
    _tree(root)
    reconcile(index, [str(root)])
    root.rename(tmp_path / "unmounted")
    report = reconcile(index, [str(root)])
    assert report.missing == 0 and report.unreadable_dirs == [str(root)]
    Reconciler(index).scan_root(str(root), below=str(root / "sub"), recursive=True)
    assert set(_states(index).values()) == {PENDING}


def test_progress_is_called_per_folder_and_can_stop_a_scan(index: Index, tmp_path: Path) -> None:
    root = tmp_path / "lib"
    _tree(root)
    calls: list[int] = []

    def progress(count: int) -> None:
        calls.append(count)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Reconciler(index, on_progress=progress).scan_root(str(root))
    assert calls == [0, 0]
    reconcile(index, [str(root)])  # a scan stopped half-way is simply done again
    assert len(_states(index)) == 3


# -- own writes ---------------------------------------------------------------------------------------
def _index_by_hand(index: Index, path: Path) -> None:
    """Mark a reconciled file indexed with a made-up image (no model needed for these tests)."""
    with index.write() as connection:
        image_id = connection.execute(
            insert(images).values(pixel_hash=f"hash-{path.name}", width=48, height=48, created_at=utcnow())
        ).inserted_primary_key[0]
        connection.execute(update(files).where(files.c.path == str(path)).values(state=INDEXED, image_id=image_id))


def test_record_own_write_keeps_a_metadata_write_from_looking_like_a_change(index: Index, tmp_path: Path) -> None:
    root = tmp_path / "lib"
    photo = write_photo(root / "p.png", 7)
    reconcile(index, [str(root)])
    _index_by_hand(index, photo)
    before = os.stat(photo)
    text = PngImagePlugin.PngInfo()
    text.add_text("Description", "a written description")
    temp = root / ".p.png.alttext-tmp-0001"  # how the metadata writer saves: temp copy, then rename
    noise_image(7).save(temp, format="PNG", pnginfo=text)
    os.replace(temp, photo)
    assert record_own_write(index, photo, os.stat(photo), before=before)
    report = reconcile(index, [str(root)])
    assert (report.changed, report.unchanged) == (0, 1)


def test_record_own_write_does_not_hide_someone_elses_change(index: Index, tmp_path: Path) -> None:
    root = tmp_path / "lib"
    photo = write_photo(root / "p.png", 8)
    reconcile(index, [str(root)])
    _index_by_hand(index, photo)
    indexed = os.stat(photo)
    noise_image(9).save(photo)  # somebody edits the pixels; no scan has seen it yet
    os.utime(photo, ns=(indexed.st_atime_ns, indexed.st_mtime_ns + 10**9))
    before = os.stat(photo)  # what our writer read just before writing
    temp = root / ".p.png.alttext-tmp-0002"
    noise_image(9).save(temp, format="PNG", pnginfo=PngImagePlugin.PngInfo())
    os.replace(temp, photo)
    assert not record_own_write(index, photo, os.stat(photo), before=before)
    assert reconcile(index, [str(root)]).changed == 1  # so the edit gets captioned


def test_record_own_write_takes_the_metadata_writers_filestat(index: Index, tmp_path: Path) -> None:
    from alttext.metadata.results import FileStat

    root = tmp_path / "lib"
    photo = write_photo(root / "p.png", 10)
    reconcile(index, [str(root)])
    _index_by_hand(index, photo)
    noise_image(10).save(photo, pnginfo=PngImagePlugin.PngInfo())
    assert record_own_write(index, photo, FileStat.of(str(photo)))
    assert reconcile(index, [str(root)]).unchanged == 1


# -- retries ------------------------------------------------------------------------------------------
def _fail(index: Index, path: Path, attempts: int) -> int:
    with index.write() as connection:
        connection.execute(update(files).where(files.c.path == str(path))
                           .values(state=FAILED, error="cannot decode image: broken", attempts=attempts))
        return connection.execute(select(files.c.id).where(files.c.path == str(path))).scalar()


def test_failed_files_are_retried_with_backoff_then_parked(index: Index, tmp_path: Path) -> None:
    root = tmp_path / "lib"
    photo = write_photo(root / "p.png", 11)
    reconcile(index, [str(root)])
    now = utcnow()
    _fail(index, photo, 1)
    [failed] = retry.schedule_failed(index, base=60, now=now)
    assert failed.retry_in == timedelta(seconds=60) and failed.error == "cannot decode image: broken"
    assert retry.schedule_failed(index, base=60, now=now) == []  # reported once
    reconcile(index, [str(root)])  # a scan re-queues failed files; the daemon holds them back till due
    assert _states(index) == {"p.png": PENDING}
    assert retry.hold_back(index) == 1
    assert _states(index) == {"p.png": FAILED}
    assert retry.next_due(index) == now + timedelta(seconds=60)
    assert retry.release_due(index, now=now + timedelta(seconds=59)) == 0
    assert retry.release_due(index, now=now + timedelta(seconds=61)) == 1
    assert _states(index) == {"p.png": PENDING}
    _fail(index, photo, 2)
    [failed] = retry.schedule_failed(index, base=60, now=now)
    assert failed.retry_in == timedelta(minutes=4)
    retry.release_due(index, now=now + timedelta(minutes=5))
    _fail(index, photo, 3)
    [failed] = retry.schedule_failed(index, base=60, now=now)
    assert failed.retry_in is None  # parked: stays failed, shown by `alttext status`
    assert reconcile(index, [str(root)]).held_back == 1  # no scan re-queues it any more (still failed)
    assert retry.release_due(index, now=now + timedelta(days=30)) == 0
    assert _states(index) == {"p.png": FAILED}
    noise_image(12).save(photo)  # fixed: the file changed, so it is tried again at once...
    os.utime(photo, ns=(1, 10**18))
    assert reconcile(index, [str(root)]).changed == 1
    assert retry.hold_back(index) == 0 and _states(index) == {"p.png": PENDING}
    with index.write() as connection:  # ...and indexed: its parked job goes
        connection.execute(update(files).values(state=INDEXED))
    retry.schedule_failed(index, base=60, now=now)
    with index.read() as connection:
        assert connection.execute(select(jobs.c.id).where(jobs.c.kind == retry.KIND)).all() == []


# -- systemd notifications ----------------------------------------------------------------------------
def test_notifier_sends_datagrams_and_reads_the_watchdog_interval(tmp_path: Path) -> None:
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(address)
        notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "4000000"})
        assert notifier.enabled and notifier.watchdog_interval == 4.0
        assert notifier.ready("watching 1 folder")
        assert notifier.watchdog()
        assert notifier.status("ünïcode\nsafe")
        assert server.recv(4096) == b"READY=1\nSTATUS=watching 1 folder"
        assert server.recv(4096) == b"WATCHDOG=1"
        assert server.recv(4096) == "STATUS=ünïcode safe".encode()
        notifier.close()
    assert Notifier({"WATCHDOG_USEC": "5", "WATCHDOG_PID": "1"}).watchdog_interval is None  # meant for another pid
    quiet = Notifier({})
    assert not quiet.enabled and not quiet.ready() and quiet.watchdog_interval is None


def test_durations() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("45s") == 45
    assert parse_duration("15m") == 900
    assert parse_duration("1.5h") == 5400
    assert parse_duration("1d") == 86400
    for bad in ("", "0", "-1m", "soon", "5 weeks"):
        with pytest.raises(ValueError):
            parse_duration(bad)
