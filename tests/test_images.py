"""Decoding: every kind of bad input becomes a clear ImageError; every colour mode becomes correct RGB."""

from __future__ import annotations

import io
import os
import random
import shutil
import struct
import subprocess
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from photos import photo
from PIL import Image, ImageFile

from alttext.images import ImageError, is_image_path, open_image, to_rgb


def _jpeg_bytes(image: Image.Image, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **kwargs)
    return buffer.getvalue()


def test_reads_a_real_photo(tmp_path: Path) -> None:
    path = tmp_path / "chelsea.jpg"
    path.write_bytes(_jpeg_bytes(photo("chelsea")))
    image = open_image(path)
    assert image.mode == "RGB"
    assert image.size == photo("chelsea").size


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(ImageError, match="empty file"):
        open_image(path)


def test_truncated_jpeg(tmp_path: Path) -> None:
    data = _jpeg_bytes(photo("astronaut"))
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated"):
        open_image(path)


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("shopping list: milk, eggs")
    with pytest.raises(ImageError, match="not an image"):
        open_image(path)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="vanished"):
        open_image(tmp_path / "gone.jpg")
    locked = tmp_path / "locked.jpg"
    locked.write_bytes(_jpeg_bytes(photo("coffee")))
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):  # root can read anything: then there's nothing to test
            pytest.skip("running as root: permission bits do not stop reads")
        with pytest.raises(ImageError, match="permission denied"):
            open_image(locked)
    finally:
        locked.chmod(0o644)


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("L", (4000, 4000)).save(path)  # 16 MP of zeros compresses to a few KB
    assert path.stat().st_size < 100_000
    with pytest.raises(ImageError, match="decompression bomb"):
        open_image(path, max_pixels=10_000_000)
    assert open_image(path, max_pixels=20_000_000).size == (4000, 4000)


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height``; its data is a few bytes (never decoded here)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.fixture
def decoding_stops_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """An accepted picture of 100+ million pixels would take gigabytes to decode: stop where decoding starts,
    which is where a refused one never gets."""

    def stop(self: ImageFile.ImageFile) -> None:
        raise OSError("decoding started")

    monkeypatch.setattr(ImageFile.ImageFile, "load", stop)


def _limit_outcome(data: bytes, max_pixels: int) -> str:
    try:
        open_image(data, max_pixels=max_pixels)
    except ImageError as exc:
        return "refused" if "too large" in str(exc) else "accepted" if "decoding started" in str(exc) else str(exc)
    return "accepted"


# (width, height, max_image_pixels, outcome): the configured limit and no other, including above Pillow's own
# levels (it warns above 89,478,485 px and refuses above 178,956,970 px).
LIMIT_CASES = [
    (10_000, 10_000, 100_000_000, "accepted"),
    (10_000, 10_000, 99_999_999, "refused"),
    (15_000, 15_000, 225_000_000, "accepted"),
    (15_000, 15_000, 224_999_999, "refused"),
    (9_000, 9_000, 80_000_000, "refused"),
    (9_000, 9_000, 81_000_000, "accepted"),
]


@pytest.mark.usefixtures("decoding_stops_at_once")
@pytest.mark.parametrize(("width", "height", "limit", "outcome"), LIMIT_CASES)
def test_the_configured_pixel_limit_is_the_only_one(width: int, height: int, limit: int, outcome: str) -> None:
    assert _limit_outcome(_png_claiming(width, height), limit) == outcome


@pytest.mark.usefixtures("decoding_stops_at_once")
def test_the_pixel_limit_gives_the_same_answer_in_every_thread() -> None:
    """Decoding runs in threads (ingest, caption): warnings.catch_warnings is process-wide, so the old way
    gave different answers from run to run when threads overlapped."""
    files = {(width, height): _png_claiming(width, height) for width, height, _, _ in LIMIT_CASES}
    calls = [case for case in LIMIT_CASES for _ in range(100)]
    random.Random(13).shuffle(calls)
    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(lambda case: _limit_outcome(files[case[0], case[1]], case[2]), calls))
    wrong = [(case, outcome) for case, outcome in zip(calls, outcomes, strict=True) if outcome != case[3]]
    assert wrong == []


def test_a_webp_claiming_a_huge_canvas_is_refused_before_its_frames_are_decoded() -> None:
    """Pillow's WebP opener sets up its decoder on open; the check still comes before any frame is decoded
    (decoding this one would take 4 GB)."""
    frames = [Image.new("RGB", (16, 16), colour) for colour in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"VP8X"
    data[24:30] = (16_382).to_bytes(3, "little") * 2  # canvas 16383 x 16383 (stored minus one)
    with pytest.raises(ImageError, match="16383x16383 = 268402689 pixels, limit 268402688"):
        open_image(bytes(data), max_pixels=268_402_688)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    wide = Image.new("RGB", (80, 40), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = tmp_path / "rotated.jpg"
    wide.save(path, exif=exif)
    assert open_image(path).size == (40, 80)


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    photo("coffee").convert("CMYK").save(path)
    image = open_image(path)
    assert image.mode == "RGB"
    original = np.asarray(photo("coffee"), dtype=np.int16)
    assert np.abs(np.asarray(image, dtype=np.int16) - original).mean() < 20


def test_palette_with_transparency_is_composited_on_white(tmp_path: Path) -> None:
    image = Image.new("P", (10, 10), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.info["transparency"] = 0
    image.putpixel((5, 5), 1)
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)
    rgb = open_image(path)
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
    assert rgb.getpixel((5, 5)) == (255, 0, 0)


def test_alpha_is_composited_on_white(tmp_path: Path) -> None:
    image = Image.new("RGBA", (4, 4), (0, 0, 255, 0))
    image.putpixel((1, 1), (0, 0, 255, 255))
    path = tmp_path / "alpha.png"
    image.save(path)
    rgb = open_image(path)
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
    assert rgb.getpixel((1, 1)) == (0, 0, 255)
    la = Image.new("LA", (2, 2), (0, 0))
    assert to_rgb(la).getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_greyscale_uses_the_whole_range(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 256 * 16, dtype=np.uint16).reshape(16, 256)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)  # uint16 -> mode I;16
    rgb = np.asarray(open_image(path))
    assert rgb.min() == 0 and rgb.max() == 255  # not clipped to white


def test_heic(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    path = tmp_path / "photo.heic"
    pillow_heif.from_pillow(photo("chelsea")).save(str(path), quality=80)
    image = open_image(path)
    assert image.size == photo("chelsea").size and image.mode == "RGB"


HEIF_ENC = shutil.which("heif-enc")


@pytest.mark.skipif(HEIF_ENC is None, reason="heif-enc is not installed (libheif-examples; CI installs it)")
def test_a_heic_thumbnail_is_the_models_input_when_it_is_large_enough(tmp_path: Path) -> None:
    """Phones store a small thumbnail beside the picture: the model's draft input comes from it, not from a
    full HEVC decode; a thumbnail smaller than the draft size, or no draft size, means the picture itself."""
    source = tmp_path / "source.png"
    photo("astronaut").resize((1200, 900)).save(source)
    heic = tmp_path / "phone.heic"
    subprocess.run([str(HEIF_ENC), "-q", "80", "-t", "320", "-o", str(heic), str(source)], check=True,
                   capture_output=True)
    full = open_image(heic)
    assert full.size == (1200, 900)
    small = open_image(heic, draft_size=224)
    assert small.size == (320, 240) and small.mode == "RGB"
    # The same picture: the thumbnail against the full decode shrunk to its size.
    difference = np.abs(np.asarray(small, dtype=np.int16) - np.asarray(full.resize((320, 240)), dtype=np.int16))
    assert difference.mean() < 8
    assert open_image(heic, draft_size=448).size == (1200, 900)  # the thumbnail is too small for this model
    assert open_image(heic.read_bytes(), draft_size=224).size == (320, 240)  # from bytes too


def test_animated_gif_uses_the_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert open_image(path).getpixel((0, 0)) == (255, 0, 0)


def test_jpeg_draft_keeps_at_least_the_requested_size(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    photo("astronaut").resize((2048, 2048)).save(path)
    image = open_image(path, draft_size=448)
    assert min(image.size) >= 448 and max(image.size) < 2048


def test_image_path_filter() -> None:
    assert is_image_path("a/b/IMG_0001.JPG")
    assert is_image_path("holiday.heic")
    assert not is_image_path("notes.txt")
    assert not is_image_path(".hidden.jpg")
    assert not is_image_path("photo.jpg.part")
    assert not is_image_path("photo.jpg.crdownload")


def test_permission_error_is_reported_even_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.jpg"
    path.write_bytes(_jpeg_bytes(photo("coffee")))

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(ImageError, match="permission denied"):
        open_image(path)
