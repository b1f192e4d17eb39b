"""An image's identity (docs/architecture.md §2): the hash of its compressed picture data and orientation.

Metadata writes by exiftool, python-exiv2 and alttext keep it; a pixel edit, a lossless rotate and an
orientation change make a new one; the same photo saved twice with metadata of different sizes is one
image; a known image is recognised without decoding a pixel.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from photos import photo
from PIL import Image

from alttext.images import ImageError, open_image
from alttext.index import fingerprint
from alttext.index.content_hash import picture_data_hash
from alttext.index.fingerprint import fingerprint_file, pixel_hash

EXIFTOOL = shutil.which("exiftool")
JPEGTRAN = shutil.which("jpegtran")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed (CI installs it)")


def key(path: Path) -> str:
    return fingerprint_file(str(path)).content_hash


def exif_with(orientation: int | None = None, description: str | None = None) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if description is not None:
        exif[0x010E] = description
    return exif.tobytes()


@pytest.fixture(params=["jpg", "png", "webp"])
def picture(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"cat.{request.param}"
    options = {"jpg": {"quality": 90}, "png": {}, "webp": {"quality": 80}}[request.param]
    photo("chelsea").save(path, **options)
    return path


@needs_exiftool
def test_exiftool_metadata_write_keeps_the_image(picture: Path) -> None:
    before = key(picture)
    subprocess.run([EXIFTOOL, "-q", "-overwrite_original", "-XMP-dc:Description=A cat on a mat",
                    "-EXIF:Artist=Someone with a long name " + "x" * 3000, str(picture)], check=True)
    assert key(picture) == before


def test_python_exiv2_metadata_write_keeps_the_image(picture: Path) -> None:
    import exiv2

    before = key(picture)
    image = exiv2.ImageFactory.open(str(picture))
    image.readMetadata()
    image.xmpData()["Xmp.dc.description"] = "A cat, written by python-exiv2"
    image.exifData()["Exif.Image.Artist"] = "python-exiv2 " + "y" * 2000
    image.writeMetadata()
    assert picture.read_bytes() != photo_bytes_unchanged(picture) and key(picture) == before


def photo_bytes_unchanged(path: Path) -> bytes:  # the bytes as first saved, to show the file did change
    saved = io.BytesIO()
    options = {".jpg": {"quality": 90, "format": "JPEG"}, ".png": {"format": "PNG"},
               ".webp": {"quality": 80, "format": "WEBP"}}[path.suffix]
    photo("chelsea").save(saved, **options)
    return saved.getvalue()


def test_alttext_embed_keeps_the_image(picture: Path) -> None:
    from alttext.metadata.writer import embed

    before = key(picture)
    result = embed(picture, "A tabby cat looking up.", sidecar=False)
    assert result.ok, result.error
    assert picture.read_bytes() != photo_bytes_unchanged(picture) and key(picture) == before


def test_one_pixel_edit_makes_a_new_image(picture: Path) -> None:
    before = key(picture)
    edited = photo("chelsea").copy()
    edited.putpixel((10, 10), (255, 0, 0))
    options = {".jpg": {"quality": 90}, ".png": {}, ".webp": {"quality": 80}}[picture.suffix]
    edited.save(picture, **options)
    assert key(picture) != before


def test_orientation_change_makes_a_new_image_and_the_size_is_upright(tmp_path: Path) -> None:
    plain, turned, explicit_one = tmp_path / "plain.jpg", tmp_path / "turned.jpg", tmp_path / "one.jpg"
    cat = photo("chelsea")
    cat.save(plain, quality=90)
    cat.save(turned, quality=90, exif=exif_with(orientation=6))
    cat.save(explicit_one, quality=90, exif=exif_with(orientation=1))
    print_plain, print_turned = fingerprint_file(str(plain)), fingerprint_file(str(turned))
    assert print_turned.content_hash != print_plain.content_hash
    assert (print_turned.width, print_turned.height) == (cat.height, cat.width)
    assert open_image(str(turned)).size == (print_turned.width, print_turned.height)
    # Orientation 1 is what no tag means: the upright pixels are the same, so is the image.
    assert key(explicit_one) == print_plain.content_hash


@needs_exiftool
def test_exiftool_orientation_change_makes_a_new_image(tmp_path: Path) -> None:
    path = tmp_path / "cat.jpg"
    photo("chelsea").save(path, quality=90, exif=exif_with(orientation=1))
    before = key(path)
    subprocess.run([EXIFTOOL, "-q", "-overwrite_original", "-n", "-Orientation=8", str(path)], check=True)
    assert key(path) != before


@pytest.mark.skipif(JPEGTRAN is None, reason="jpegtran is not installed (libjpeg-turbo-progs; CI installs it)")
def test_lossless_rotate_by_jpegtran_makes_a_new_image(tmp_path: Path) -> None:
    source, rotated = tmp_path / "cat.jpg", tmp_path / "rotated.jpg"
    photo("chelsea").crop((0, 0, 448, 296)).save(source, quality=90)  # whole MCUs: a perfect rotation
    subprocess.run([JPEGTRAN, "-rotate", "90", "-copy", "all", "-outfile", str(rotated), str(source)], check=True)
    assert key(rotated) != key(source)


def test_same_photo_saved_twice_with_different_metadata_sizes_is_one_image(tmp_path: Path) -> None:
    small, large = tmp_path / "small.jpg", tmp_path / "large.jpg"
    cat = photo("chelsea")
    cat.save(small, quality=88, exif=exif_with(description="cat"))
    cat.save(large, quality=88, exif=exif_with(description="a cat " * 2000), comment=b"x" * 5000)
    assert small.stat().st_size + 10_000 < large.stat().st_size
    assert key(small) == key(large)


def test_data_after_the_end_of_the_picture_is_not_part_of_it(tmp_path: Path) -> None:
    path = tmp_path / "cat.jpg"
    photo("chelsea").save(path, quality=90)
    before = key(path)
    with path.open("ab") as handle:
        handle.write(b"\xff\xd8 a phone's trailer \xff\xd9 with markers in it")
    assert key(path) == before


def test_a_known_image_is_recognised_without_decoding(picture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = key(picture)

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("a known image was decoded")

    monkeypatch.setattr(fingerprint, "open_image", no_decoding)
    known = fingerprint_file(str(picture), is_known=lambda digest: digest == expected)
    assert known.content_hash == expected and known.thumbnail is None and known.pixel_hash is None


@pytest.mark.parametrize("kind", ["JPEG", "MPO"])  # MPO: a camera JPEG with MPF previews after it
def test_an_unknown_jpeg_is_decoded_at_draft_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    path = tmp_path / "big.jpg"
    big = photo("chelsea").resize((3200, 2128))
    if kind == "MPO":
        big.save(path, format="MPO", quality=85, save_all=True, append_images=[photo("chelsea")])
        assert Image.open(path).format == "MPO"
    else:
        big.save(path, quality=85)
    decoded: list[tuple[int, int]] = []

    def spy(*args: object, **kwargs: object) -> Image.Image:
        image = open_image(*args, **kwargs)  # type: ignore[arg-type]
        decoded.append(image.size)
        return image

    monkeypatch.setattr(fingerprint, "open_image", spy)
    found = fingerprint_file(str(path))
    assert decoded == [(800, 532)]  # 1/4 scale in the DCT: the smallest that still fills the thumbnail
    monkeypatch.undo()
    assert (found.width, found.height) == (3200, 2128) and found.pixel_hash is None
    assert found.thumbnail is not None and max(found.thumbnail.size) == fingerprint.THUMBNAIL_SIDE
    older = fingerprint_file(str(path), want_pixel_hash=True)  # for an index made before migration 0006
    assert older.content_hash == found.content_hash and older.pixel_hash == pixel_hash(open_image(str(path)))


def test_formats_without_a_parser_keep_the_pixel_key(tmp_path: Path) -> None:
    path = tmp_path / "cat.tif"
    photo("chelsea").save(path)
    assert picture_data_hash(path.read_bytes()) is None
    found = fingerprint_file(str(path))
    assert found.content_hash == found.pixel_hash == pixel_hash(open_image(str(path)))


def test_a_truncated_jpeg_is_reported_not_keyed(tmp_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    photo("chelsea").save(path, quality=90)
    path.write_bytes(path.read_bytes()[:-4000])
    assert picture_data_hash(path.read_bytes()) is None  # no end of image: falls back to a decode
    with pytest.raises(ImageError, match="truncated"):
        fingerprint_file(str(path))


@pytest.mark.parametrize("damage", [b"\xff\xd8\xff\xe1\xff\xff", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xffIHDR",
                                    b"RIFF\xff\xff\xff\x00WEBPVP8 "])
def test_malformed_structure_never_raises_from_the_parser(damage: bytes) -> None:
    assert picture_data_hash(damage) is None
