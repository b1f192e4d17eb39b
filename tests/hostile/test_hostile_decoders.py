"""A decoder that raises something unexpected (pillow-heif and Pillow's AVIF plugin raise ``RuntimeError`` for
some damaged files) fails that file, with its reason, in every command and the daemon: never the run.

damaged.avif and damaged.heic are real damaged files found by the seeded mutator (mutants.py: chelsea at 64 px;
the AVIF is seed 0's 13th mutant, the HEIC seed 1's 69th), kept as files so encoder upgrades don't change them.
"""

from __future__ import annotations

import io
import logging
import shutil
import struct
from pathlib import Path

import pytest
from hostilekit import (
    DAMAGED_AVIF,
    DAMAGED_HEIC,
    caption_all,
    errors_logged,
    file_rows,
    parked_warnings,
    run_scan,
    watch_until_settled,
)
from photos import photo
from PIL import Image, ImageFile

from alttext.captioning import Captioner
from alttext.images import ImageError, open_image
from alttext.index import fingerprint
from alttext.index.reconcile import MAX_ATTEMPTS
from alttext.metadata.pixels import PixelError, pixel_digest

DAMAGED = (DAMAGED_AVIF, DAMAGED_HEIC)


@pytest.fixture(scope="module")
def captioner(tiny_model: Path) -> Captioner:
    return Captioner(str(tiny_model), device="cpu", batch_size=4)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two good photos with the two damaged files between them (files after a failure must go on)."""
    root = tmp_path / "photos"
    root.mkdir()
    photo("chelsea").resize((64, 48)).save(root / "a-chelsea.jpg")
    for damaged in DAMAGED:
        shutil.copy(damaged, root / f"b-{damaged.name}")
    photo("coffee").resize((64, 48)).save(root / "c-coffee.png")
    return root


def _png(size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("raised", [RuntimeError("Decoding of color planes failed\n"), KeyError("tile"),
                                    struct.error("unpack requires a buffer"), ZeroDivisionError(), MemoryError()])
def test_whatever_a_decoder_raises_becomes_one_clear_image_error(
    raised: BaseException, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_load(self: ImageFile.ImageFile) -> None:
        raise raised

    monkeypatch.setattr(ImageFile.ImageFile, "load", broken_load)
    with pytest.raises(ImageError) as caught:
        open_image(_png())
    message = str(caught.value)
    assert message.startswith(("cannot decode image: ", "not enough memory")) and "\n" not in message.strip()
    assert message.strip() == message and len(message) > len("cannot decode image: ")


@pytest.mark.parametrize("damaged", DAMAGED, ids=lambda path: path.suffix)
def test_real_damaged_heic_and_avif(damaged: Path) -> None:
    with Image.open(damaged) as image, pytest.raises(RuntimeError):  # the files still show the bug
        image.load()
    with pytest.raises(ImageError, match=r"^cannot decode image: [^\n]+$"):
        open_image(damaged)


def test_scan_fails_the_damaged_files_once_each_and_indexes_the_rest(
    tmp_path: Path, folder: Path, captioner: Captioner
) -> None:
    db = tmp_path / "index.sqlite3"
    for attempt in range(1, MAX_ATTEMPTS + 1):  # each scan tries a failed file again while attempts remain
        summary = run_scan(db, folder, captioner)
        assert summary.failed == 2
        rows = file_rows(db)
        assert {Path(path).name: row.state for path, row in rows.items()} == {
            "a-chelsea.jpg": "indexed", "b-damaged.avif": "failed", "b-damaged.heic": "failed",
            "c-coffee.png": "indexed",
        }
        for path, row in rows.items():
            if row.state == "failed":
                assert row.attempts == attempt and row.error and row.error.startswith("cannot decode image: "), path
    summary = run_scan(db, folder, captioner)  # parked: not tried, not reported again, but still failed
    assert summary.failed == 0 and summary.errors == [] and summary.held_back == summary.still_failed == 2
    assert all(row.state != "pending" for row in file_rows(db).values())


def test_an_unexpected_error_past_the_decoder_fails_only_that_file(
    tmp_path: Path, folder: Path, captioner: Captioner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest's own guard, whatever open_image does: here hashing the PNG's picture data raises."""
    real_hash = fingerprint.picture_data_hash

    def hash_or_fail(data: bytes) -> str | None:
        if data.startswith(b"\x89PNG"):
            raise RuntimeError("hash exploded")
        return real_hash(data)

    monkeypatch.setattr(fingerprint, "picture_data_hash", hash_or_fail)
    run_scan(tmp_path / "index.sqlite3", folder, captioner)
    rows = {Path(path).name: row for path, row in file_rows(tmp_path / "index.sqlite3").items()}
    assert rows["c-coffee.png"].state == "failed" and rows["c-coffee.png"].error == "cannot read image: hash exploded"
    assert rows["a-chelsea.jpg"].state == "indexed"


def test_watch_parks_the_damaged_files_once_without_a_traceback(
    tmp_path: Path, folder: Path, captioner: Captioner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    db = tmp_path / "index.sqlite3"
    run = watch_until_settled(db, folder, captioner, timeout=45)
    assert run.stats.errors == 0 and errors_logged(caplog.records) == []
    assert run.settled
    rows = {Path(path).name: row for path, row in file_rows(db).items()}
    assert rows["a-chelsea.jpg"].state == rows["c-coffee.png"].state == "indexed"
    for name in ("b-damaged.avif", "b-damaged.heic"):
        assert rows[name].state == "failed" and rows[name].attempts == MAX_ATTEMPTS
        assert rows[name].error and rows[name].error.startswith("cannot decode image: ")
        assert sum(name in line for line in parked_warnings(caplog.records)) == 1


def test_caption_reports_the_damaged_files_and_captions_the_rest(folder: Path, tiny_model: Path) -> None:
    results = {Path(path).name: (alt, error) for path, alt, error in caption_all(folder, tiny_model)}
    assert set(results) == {"a-chelsea.jpg", "b-damaged.avif", "b-damaged.heic", "c-coffee.png"}
    assert results["a-chelsea.jpg"][0] and results["c-coffee.png"][0]
    for name in ("b-damaged.avif", "b-damaged.heic"):
        alt, error = results[name]
        assert alt is None and error and error.startswith("cannot decode image: ") and "\n" not in error


@pytest.mark.parametrize("damaged", DAMAGED, ids=lambda path: path.suffix)
def test_verifying_a_write_to_a_damaged_file_is_a_pixel_error(damaged: Path) -> None:
    """The metadata writer decodes every frame to prove a write left the pixels alone."""
    with pytest.raises(PixelError, match="cannot decode the image to verify it: "):
        pixel_digest(damaged.read_bytes())
