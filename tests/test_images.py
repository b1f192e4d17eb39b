"""Decoding: every kind of bad input becomes a clear ImageError; every colour mode becomes correct RGB."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from photos import photo
from PIL import Image

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
