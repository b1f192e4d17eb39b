"""The index through a scan: identity rules (docs/architecture.md §2), provenance, failures, resumption.

Real folders, a real (tiny, random-weight) model whose calls are counted, and a real index: an SQLite file
and a PostgreSQL database (``both_backends``, tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from photos import photo
from PIL import Image, PngImagePlugin
from sqlalchemy import text

from alttext.captioning import Captioner
from alttext.index.db import Index
from alttext.index.ingest import Ingester
from alttext.index.models import MISSING
from alttext.index.queries import describe_file, index_status
from alttext.index.reconcile import reconcile
from alttext.index.scan import ScanSummary, scan

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)


class CountingFactory:
    """Builds the captioner on demand, like the CLI, and counts loads and model calls."""

    def __init__(self, captioner: Captioner) -> None:
        self.captioner = captioner
        self.loads = 0

    def __call__(self) -> Captioner:
        self.loads += 1
        return self.captioner


@pytest.fixture(scope="module")
def captioner(tiny_model: Path) -> Captioner:
    return Captioner(str(tiny_model), device="cpu", batch_size=4)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    (root / "2024" / "summer").mkdir(parents=True)
    (root / "2025").mkdir()
    photo("chelsea").save(root / "2024" / "cat.jpg", quality=92)
    photo("coffee").save(root / "2024" / "summer" / "coffee.png")
    photo("rocket").save(root / "2025" / "rocket.webp", quality=90)
    photo("astronaut").resize((256, 256)).save(root / "2025" / "astronaut.tif")
    return root


def run_scan(index: Index, folders: list[Path], captioner: Captioner) -> tuple[ScanSummary, CountingFactory]:
    factory = CountingFactory(captioner)
    summary = scan(index, [str(f) for f in folders], factory, batch_size=4, max_pixels=100_000_000)
    return summary, factory


def caption_of(index: Index, path: Path) -> str | None:
    info = describe_file(index, str(path))
    assert info is not None, path
    return info["alt_text"]


def test_first_scan_indexes_everything_with_provenance(index: Index, library: Path, captioner: Captioner) -> None:
    summary, factory = run_scan(index, [library], captioner)
    assert (summary.new, summary.captioned, summary.failed) == (4, 4, 0)
    assert factory.loads == 1 and summary.model_calls == 1  # 4 distinct images, batch of 4
    info = describe_file(index, str(library / "2024" / "cat.jpg"))
    assert info["state"] == "indexed" and info["alt_text"] and info["raw_caption"]
    assert info["source"] == "model" and info["status"] == "generated"
    assert info["model"] == captioner.model_id
    assert info["params"]["num_beams"] == captioner.generation_params["num_beams"]
    assert info["captioned_at"] and info["image"]["width"] == photo("chelsea").width
    status = index_status(index)
    assert (status["files"], status["images"], status["captioned"], status["pending"]) == (4, 4, 4, 0)


def test_rescan_of_unchanged_files_calls_no_model(index: Index, library: Path, captioner: Captioner,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    run_scan(index, [library], captioner)

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("an unchanged file was decoded")

    monkeypatch.setattr("alttext.index.ingest.fingerprint_file", no_decoding)
    summary, factory = run_scan(index, [library], captioner)
    assert summary.unchanged == 4 and summary.new == summary.changed == 0
    assert factory.loads == 0 and summary.model_calls == 0


def test_rename_and_move_keep_the_caption_without_a_model_call(index: Index, library: Path, tmp_path: Path,
                                                               captioner: Captioner) -> None:
    other_root = tmp_path / "other"
    other_root.mkdir()
    run_scan(index, [library, other_root], captioner)
    cat_caption = caption_of(index, library / "2024" / "cat.jpg")
    coffee_caption = caption_of(index, library / "2024" / "summer" / "coffee.png")
    os.rename(library / "2024" / "cat.jpg", library / "2024" / "kitty.jpg")
    os.rename(library / "2024" / "summer" / "coffee.png", other_root / "coffee.png")
    summary, factory = run_scan(index, [library, other_root], captioner)
    assert summary.moved == 2 and summary.new == 0 and summary.missing == 0
    assert factory.loads == 0 and summary.model_calls == 0
    assert caption_of(index, library / "2024" / "kitty.jpg") == cat_caption
    assert caption_of(index, other_root / "coffee.png") == coffee_caption
    assert describe_file(index, str(library / "2024" / "cat.jpg")) is None  # the row moved, not copied
    assert index_status(index)["files"] == 4


def test_moving_a_whole_folder(index: Index, library: Path, captioner: Captioner) -> None:
    run_scan(index, [library], captioner)
    os.rename(library / "2024", library / "archive-2024")
    summary, factory = run_scan(index, [library], captioner)
    assert summary.moved == 2 and summary.missing == 0 and factory.loads == 0
    assert caption_of(index, library / "archive-2024" / "summer" / "coffee.png")


def test_copy_across_file_systems_is_recognised_by_its_pixels(index: Index, library: Path,
                                                              captioner: Captioner) -> None:
    run_scan(index, [library], captioner)
    source = library / "2024" / "cat.jpg"
    data = source.read_bytes()
    source.unlink()
    (library / "2025" / "cat-copy.jpg").write_bytes(data)  # new inode: looks like a new file
    summary, factory = run_scan(index, [library], captioner)
    assert summary.reused == 1 and summary.model_calls == 0 and factory.loads == 0


def test_duplicates_are_captioned_once(index: Index, library: Path, captioner: Captioner) -> None:
    shutil.copy(library / "2024" / "cat.jpg", library / "2025" / "cat-duplicate.jpg")
    shutil.copy(library / "2024" / "cat.jpg", library / "cat-third.jpg")
    summary, _ = run_scan(index, [library], captioner)
    assert summary.new == 6 and summary.captioned == 6
    status = index_status(index)
    assert status["images"] == 4 and status["files"] == 6
    with index.read() as connection:
        assert connection.execute(text("SELECT count(*) FROM captions")).scalar() == 4
    info = describe_file(index, str(library / "2024" / "cat.jpg"))
    assert sorted(info["other_paths"]) == sorted([str(library / "2025" / "cat-duplicate.jpg"),
                                                  str(library / "cat-third.jpg")])


def test_pixel_edit_is_recaptioned(index: Index, library: Path, captioner: Captioner) -> None:
    run_scan(index, [library], captioner)
    target = library / "2024" / "summer" / "coffee.png"
    before = describe_file(index, str(target))["image"]["pixel_hash"]
    edited = photo("coffee").copy()
    edited.paste((255, 0, 0), (0, 0, 50, 50))
    edited.save(target)
    summary, _ = run_scan(index, [library], captioner)
    assert summary.changed == 1 and summary.captioned == 1 and summary.model_calls == 1
    after = describe_file(index, str(target))
    assert after["image"]["pixel_hash"] != before and after["alt_text"]


def test_metadata_only_edit_is_not_recaptioned(index: Index, library: Path, captioner: Captioner) -> None:
    run_scan(index, [library], captioner)
    target = library / "2024" / "summer" / "coffee.png"
    caption = caption_of(index, target)
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "edited by someone else's tool")
    with Image.open(target) as image:
        image.load()
        image.save(target, pnginfo=info)  # same pixels, new bytes, new mtime
    summary, factory = run_scan(index, [library], captioner)
    assert summary.changed == 1 and summary.reused == 1
    assert summary.model_calls == 0 and factory.loads == 0
    assert caption_of(index, target) == caption


def test_delete_marks_missing_and_restore_brings_the_caption_back(index: Index, library: Path,
                                                                  captioner: Captioner) -> None:
    run_scan(index, [library], captioner)
    target = library / "2025" / "rocket.webp"
    caption = caption_of(index, target)
    saved = target.read_bytes()
    stat = target.stat()
    target.unlink()
    summary, _ = run_scan(index, [library], captioner)
    assert summary.missing == 1
    info = describe_file(index, str(target))
    assert info["state"] == MISSING and info["missing_since"] and info["alt_text"] == caption
    assert index_status(index)["missing"] == 1 and index_status(index)["files"] == 3
    target.write_bytes(saved)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    summary, factory = run_scan(index, [library], captioner)
    assert summary.model_calls == 0 and factory.loads == 0
    assert describe_file(index, str(target))["state"] == "indexed"
    assert caption_of(index, target) == caption
    assert index_status(index)["missing"] == 0


def test_corrupt_file_among_good_ones(index: Index, library: Path, captioner: Captioner) -> None:
    data = (library / "2024" / "cat.jpg").read_bytes()
    (library / "2024" / "half.jpg").write_bytes(data[: len(data) // 2])
    (library / "2024" / "empty.jpg").touch()
    (library / "2024" / "text.png").write_text("hello")
    summary, _ = run_scan(index, [library], captioner)
    assert summary.captioned == 4 and summary.failed == 3
    reasons = {Path(error["path"]).name: error["error"] for error in summary.errors}
    assert "truncated" in reasons["half.jpg"] and "empty" in reasons["empty.jpg"]
    assert "not an image" in reasons["text.png"]
    info = describe_file(index, str(library / "2024" / "half.jpg"))
    assert info["state"] == "failed" and "truncated" in info["error"]
    assert index_status(index)["failed"] == 3


def test_file_deleted_between_listing_and_captioning(index: Index, library: Path, captioner: Captioner) -> None:
    reconcile(index, [str(library)])
    (library / "2025" / "rocket.webp").unlink()
    report = Ingester(index, CountingFactory(captioner), batch_size=4).run()
    assert report.vanished == 1 and report.failed == 0 and report.captioned == 3
    info = describe_file(index, str(library / "2025" / "rocket.webp"))
    assert info["state"] == MISSING and "vanished" in info["error"]


@pytest.mark.parametrize(
    "name",
    [
        "café au lait.png",  # accents (NFC)
        "cafe\u0301 nfd.png",  # accents (NFD)
        "🐱 cat 😺.png",  # emoji
        "قطة.png",  # right-to-left
        "tab\tand\nnewline.png",
        "-starts-with-dash.png",
    ],
)
def test_odd_unicode_file_names(index: Index, tmp_path: Path, captioner: Captioner, name: str) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    photo("coffee").resize((64, 64)).save(folder / name)
    summary, _ = run_scan(index, [folder], captioner)
    assert summary.captioned == 1 and summary.failed == 0
    assert caption_of(index, folder / name)


def test_non_utf8_file_name(index: Index, tmp_path: Path, captioner: Captioner) -> None:
    folder = tmp_path / "latin1"
    folder.mkdir()
    raw_name = b"caf\xe9.png"  # Latin-1 é: not valid UTF-8
    path = os.path.join(os.fsencode(folder), raw_name)
    photo("coffee").resize((64, 64)).save(os.fsdecode(path), format="PNG")
    summary, _ = run_scan(index, [folder], captioner)
    assert summary.captioned == 1
    info = describe_file(index, os.fsdecode(path))
    assert info is not None and os.fsencode(info["path"]) == path
    renamed = os.path.join(os.fsencode(folder), b"caf\xe9-2.png")
    os.rename(path, renamed)
    summary, _ = run_scan(index, [folder], captioner)
    assert summary.moved == 1


def test_interrupted_ingest_resumes_and_captions_each_image_once(index: Index, tmp_path: Path,
                                                                 captioner: Captioner) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(12):
        Image.new("RGB", (32, 32), (i * 20, 255 - i * 20, (i * 50) % 255)).save(folder / f"{i:02}.png")
    reconcile(index, [str(folder)])
    calls: list[int] = []
    stop_after: Callable[[], bool] = lambda: len(calls) >= 1  # noqa: E731

    original_generate = captioner.generate

    def counting_generate(pixels):  # type: ignore[no-untyped-def]
        calls.append(len(pixels))
        return original_generate(pixels)

    captioner.generate = counting_generate  # type: ignore[method-assign]
    try:
        first = Ingester(index, CountingFactory(captioner), batch_size=4, should_stop=stop_after).run()
        assert 0 < first.captioned < 12
        assert index_status(index)["pending"] == 12 - first.captioned
        second = Ingester(index, CountingFactory(captioner), batch_size=4).run()
    finally:
        del captioner.generate
    assert first.captioned + second.captioned == 12
    assert sum(calls) == 12  # every image went through the model exactly once
    with index.read() as connection:
        assert connection.execute(text("SELECT count(*) FROM captions")).scalar() == 12
    assert index.integrity_check() == "ok"


def test_unreadable_folder_does_not_mark_its_files_missing(index: Index, library: Path, captioner: Captioner,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    run_scan(index, [library], captioner)
    real_scandir = os.scandir
    locked = str(library / "2025")

    def scandir(path):  # type: ignore[no-untyped-def]
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_scandir(path)

    monkeypatch.setattr("alttext.index.reconcile.os.scandir", scandir)
    summary, _ = run_scan(index, [library], captioner)
    assert summary.unreadable_dirs == [locked] and summary.missing == 0
    assert index_status(index)["files"] == 4


def test_ctrl_c_keeps_what_was_captioned_and_a_rerun_continues(tmp_path: Path, tiny_model: Path,
                                                               db: Path | str) -> None:
    """The real command under SIGINT: exit 130, captions so far kept, the next run does only the rest."""
    import signal
    import subprocess
    import time

    import numpy as np
    from helpers import alttext_command, run_alttext, sql_rows

    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(3)
    total = 60  # enough to interrupt after 3 (batch size 1), few enough to caption twice (both backends)
    for i in range(total):
        Image.fromarray(rng.integers(0, 256, (384, 384, 3), dtype=np.uint8)).save(folder / f"{i:03}.jpg")
    watcher = Index(db)  # the test's own reader, beside the command

    def indexed() -> int:
        return int(sql_rows(watcher, "SELECT count(*) FROM files WHERE state = 'indexed'")[0][0])

    scanner = subprocess.Popen(
        [*alttext_command(), "--db", str(db), "scan", str(folder), "--model", str(tiny_model), "--batch-size", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A shell without job control starts background jobs with SIGINT ignored, and Python then never
        # raises KeyboardInterrupt: give the command the default a terminal would, whatever ran pytest.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while indexed() < 3 and scanner.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    scanner.send_signal(signal.SIGINT)
    _, err = scanner.communicate(timeout=60)
    done = indexed()
    assert scanner.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert 3 <= done < total
    rerun = run_alttext("--db", str(db), "scan", str(folder), "--model", str(tiny_model), "--json")
    summary = json.loads(rerun.stdout)
    assert rerun.returncode == 0, rerun.stderr
    assert summary["captioned"] == total - done  # nothing captioned twice
    watcher.close()
    with Index(db) as index:
        assert index_status(index)["files"] == total
        with index.read() as connection:
            assert connection.execute(text("SELECT count(*) FROM captions")).scalar() == total
        assert index.integrity_check() == "ok"
