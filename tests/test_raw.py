"""Camera RAW files: captioned from their embedded preview, paired with the JPEG beside them, never modified
(docs/architecture.md §10). The RAW files are built here (tests/raw_files.py) and read by the real LibRaw
(rawpy) or exiftool."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from raw_files import write_dng, write_jpeg_in_raw

from alttext import raw
from alttext.cli import cli
from alttext.images import ImageError, is_image_name, open_image
from alttext.index import review
from alttext.index.db import Index
from alttext.index.queries import describe_file
from alttext.index.scan import ScanSummary, scan

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)
needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")


class CountingCaptioner:
    """Duck-types the captioner; counts the images the model is asked about and numbers its captions."""

    model_id = "counting-captioner"
    revision = None
    generation_params: ClassVar[dict[str, object]] = {}
    batch_size = 8

    def __init__(self) -> None:
        self.images = 0

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return np.zeros((1, 1, 3), dtype=np.float32)

    def describe(self, pixels: np.ndarray) -> None:
        return None  # a pixels-only model: alt text only

    def read_text(self, pixels: np.ndarray) -> None:
        return None  # reads no text in the picture

    def generate(self, pixels: np.ndarray) -> list[str]:
        captions = [f"A photo number {self.images + i + 1}." for i in range(len(pixels))]
        self.images += len(pixels)
        return captions


def picture(seed: int) -> Image.Image:
    """A landscape picture, blue on its left, some other colour on the right."""
    image = Image.new("RGB", (160, 90), ((60 * seed) % 256, 200, 30))
    image.paste((0, 0, 255), (0, 0, 40, 90))
    return image


def run_scan(index: Index, root: Path, captioner: CountingCaptioner) -> ScanSummary:
    return scan(index, [str(root)], lambda: captioner, batch_size=8, max_pixels=10_000_000)


def alt_of(index: Index, path: Path) -> str | None:
    info = describe_file(index, str(path))
    assert info is not None, path
    return info["alt_text"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_raw_extensions_are_images_whatever_their_case() -> None:
    for name in ("IMG_0001.CR2", "a.cr3", "b.NEF", "c.nrw", "d.ARW", "e.dng", "f.RAF", "g.orf", "h.RW2",
                 "i.PEF", "j.srw", "k.3FR", "l.IIQ"):
        assert is_image_name(name), name
    assert not is_image_name("notes.txt")


@pytest.mark.parametrize(("writer", "orientation"), [(write_dng, 6), (write_jpeg_in_raw, 8)])
def test_preview_is_decoded_upright_with_the_raws_orientation(tmp_path: Path, writer, orientation: int) -> None:  # type: ignore[no-untyped-def]
    path = writer(tmp_path / "IMG_0001.NEF", picture(1), orientation=orientation)
    image = open_image(path)
    assert image.size == (90, 160)  # turned a quarter: portrait
    blue_corner = (5, 5) if orientation == 6 else (image.width - 5, image.height - 5)
    assert image.getpixel(blue_corner)[2] > 200 and image.getpixel(blue_corner)[0] < 40


@needs_exiftool
def test_exiftool_reads_the_embedded_jpeg_when_rawpy_is_missing(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_jpeg_in_raw(tmp_path / "IMG_0002.CR2", picture(2), orientation=8)
    monkeypatch.setattr(raw, "reader_name", lambda: "exiftool")
    preview = raw.read_preview(str(path))
    assert isinstance(preview.data, bytes) and preview.data[:2] == b"\xff\xd8" and preview.orientation == 8
    assert open_image(path).size == (90, 160)


def test_no_raw_reader_is_one_clear_line_and_other_files_still_scan(tmp_path: Path, index: Index,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    write_jpeg_in_raw(root / "IMG_0003.ARW", picture(3))
    picture(4).save(root / "other.png")
    monkeypatch.setattr(raw, "reader_name", lambda: None)
    summary = run_scan(index, root, CountingCaptioner())
    assert (summary.captioned, summary.failed) == (1, 1)
    [error] = summary.errors
    assert error["path"].endswith("IMG_0003.ARW") and "install rawpy" in error["error"]
    assert "\n" not in error["error"]


def test_the_preview_obeys_the_pixel_limit_and_bad_raw_is_an_image_error(tmp_path: Path) -> None:
    path = write_jpeg_in_raw(tmp_path / "big.dng", picture(5))
    with pytest.raises(ImageError, match="too large"):
        open_image(path, max_pixels=1000)
    broken = tmp_path / "broken.nef"
    broken.write_bytes(b"II*\x00" + b"\x00" * 64)
    with pytest.raises(ImageError):
        open_image(broken)


def test_scan_captions_raw_and_embed_writes_a_sidecar_not_the_raw(tmp_path: Path, db: Path | str) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    cr2 = write_jpeg_in_raw(root / "IMG_0004.CR2", picture(6))
    dng = write_dng(root / "scan.DNG", picture(7))
    before = {cr2: sha256(cr2), dng: sha256(dng)}
    captioner = CountingCaptioner()
    with Index(db) as index:
        summary = run_scan(index, root, captioner)
        assert (summary.new, summary.captioned, summary.failed) == (2, 2, 0)
        assert alt_of(index, cr2) and alt_of(index, dng)
        expected = alt_of(index, cr2)
    result = CliRunner().invoke(cli, ["--db", str(db), "embed", str(root), "--json"])
    assert result.exit_code == 0, result.output
    for path, digest in before.items():
        assert sha256(path) == digest, f"{path.name} was modified"
        assert Path(f"{path}.xmp").is_file()
    if shutil.which("exiftool"):
        out = subprocess.run(["exiftool", "-j", "-XMP-iptcCore:AltTextAccessibility", f"{cr2}.xmp"],
                             capture_output=True, text=True, check=True).stdout
        assert json.loads(out)[0]["AltTextAccessibility"] == expected


def _pair(root: Path, *, seed: int) -> tuple[Path, Path]:
    """IMG_NNNN.CR2 and img_NNNN.jpg: different pixels (the camera's JPEG is not the RAW's preview)."""
    root.mkdir(exist_ok=True)
    raw_path = write_jpeg_in_raw(root / f"IMG_{seed:04}.CR2", picture(seed))
    jpeg_path = root / f"IMG_{seed:04}.jpg"
    picture(seed + 100).save(jpeg_path, quality=90)
    return raw_path, jpeg_path


def test_raw_and_jpeg_of_the_same_name_are_captioned_once(tmp_path: Path, index: Index) -> None:
    raw_path, jpeg_path = _pair(tmp_path / "photos", seed=10)
    picture(11).save(tmp_path / "photos" / "alone.png")
    captioner = CountingCaptioner()
    summary = run_scan(index, tmp_path / "photos", captioner)
    assert captioner.images == 2 and summary.failed == 0  # the pair once, alone.png once
    assert alt_of(index, raw_path) == alt_of(index, jpeg_path)
    assert alt_of(index, raw_path) != alt_of(index, tmp_path / "photos" / "alone.png")
    review.edit(index, str(jpeg_path), "Sunrise over the harbour.")
    assert alt_of(index, raw_path) == "Sunrise over the harbour."  # a person's edit shows on both


@pytest.mark.parametrize("first", ["raw", "jpeg"])
def test_a_partner_arriving_later_reuses_the_caption(tmp_path: Path, index: Index, first: str) -> None:
    root = tmp_path / "photos"
    raw_path, jpeg_path = _pair(tmp_path / "staging", seed=20)
    root.mkdir()
    early, late = (raw_path, jpeg_path) if first == "raw" else (jpeg_path, raw_path)
    shutil.move(early, root / early.name.upper())  # the stems compare without regard to case
    captioner = CountingCaptioner()
    run_scan(index, root, captioner)
    assert captioner.images == 1
    shutil.move(late, root / late.name)
    summary = run_scan(index, root, captioner)
    assert captioner.images == 1 and summary.reused == 1
    assert alt_of(index, root / early.name.upper()) == alt_of(index, root / late.name)


def test_a_link_to_a_folder_is_named_once_and_not_followed(tmp_path: Path, index: Index,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    root, outside = tmp_path / "photos", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    picture(30).save(root / "own.png")
    picture(31).save(outside / "theirs.png")
    (root / "trips").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    with caplog.at_level(logging.WARNING, logger="alttext.index.reconcile"):
        summary = run_scan(index, root, CountingCaptioner())
    assert summary.new == 1 and sorted(Path(p).name for p in summary.skipped_links) == ["loop", "trips"]
    lines = [r.getMessage() for r in caplog.records if "not followed" in r.getMessage()]
    assert len(lines) == 1 and "trips" in lines[0] and "loop" in lines[0] and "outside" in lines[0]


def test_cli_scan_embed_rescan_of_a_pair_keeps_one_caption(tmp_path: Path, tiny_model: Path,
                                                          db: Path | str) -> None:
    """The whole CLI path (metadata import on): after embed wrote the JPEG and the RAW's sidecar, a rescan
    calls no model and imports nothing."""
    raw_path, jpeg_path = _pair(tmp_path / "photos", seed=40)
    raw_digest = sha256(raw_path)

    def run(*args: str) -> dict:  # type: ignore[type-arg]
        result = CliRunner().invoke(cli, ["--db", str(db), *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout) if "--json" in args else {}

    first = run("scan", str(tmp_path / "photos"), "--model", str(tiny_model), "--json")
    assert (first["new"], first["captioned"], first["failed"], first["model_calls"]) == (2, 2, 0, 1)
    run("embed", str(tmp_path / "photos"), "--json")
    jpeg_path.touch()  # as another program's save would: the JPEG is read again
    again = run("scan", str(tmp_path / "photos"), "--model", str(tiny_model), "--json")
    assert (again["captioned"], again["imported"], again["model_calls"]) == (0, 0, 0)
    assert sha256(raw_path) == raw_digest and Path(f"{raw_path}.xmp").is_file()
    with Index(db) as index:
        assert alt_of(index, raw_path) == alt_of(index, jpeg_path)


def test_text_in_a_late_partners_metadata_beats_the_model_but_the_pairs_own_text_is_not_imported(
        tmp_path: Path, index: Index) -> None:
    root = tmp_path / "photos"
    raw_path, jpeg_path = _pair(tmp_path / "staging", seed=50)
    root.mkdir()
    shutil.move(raw_path, root / raw_path.name)
    captioner = CountingCaptioner()
    run_scan(index, root, captioner)
    model_text = alt_of(index, root / raw_path.name)
    assert model_text

    shutil.copy(jpeg_path, root / jpeg_path.name)  # carries the pair's text, copied by another program
    same = scan(index, [str(root)], lambda: captioner, max_pixels=10_000_000, read_existing=lambda p: model_text)
    assert (same.imported, same.reused, captioner.images) == (0, 1, 1)
    info = describe_file(index, str(root / jpeg_path.name))
    assert info is not None and info["source"] == "model"

    person = "Two kids flying a red kite on a windy beach."
    os.utime(root / jpeg_path.name, ns=(1, 1))
    changed = scan(index, [str(root)], lambda: captioner, max_pixels=10_000_000, read_existing=lambda p: person)
    assert (changed.imported, captioner.images) == (1, 1)
    assert alt_of(index, root / raw_path.name) == alt_of(index, root / jpeg_path.name) == person


def test_caption_of_a_folder_names_links_it_does_not_follow(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    from alttext.sources import expand_sources

    root, outside = tmp_path / "photos", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    picture(60).save(root / "own.png")
    picture(61).save(outside / "theirs.png")
    (root / "trips").symlink_to(outside, target_is_directory=True)
    with caplog.at_level(logging.WARNING, logger="alttext.sources"):
        found = [Path(source.location).name for source in expand_sources([str(root)])]
    assert found == ["own.png"]
    [line] = [r.getMessage() for r in caplog.records if "not followed" in r.getMessage()]
    assert "trips" in line
