"""Decoding images for the model: safe against bad input, correct for every colour mode.

Pillow does the decoding (never the writing: see docs/architecture.md §4). Everything that can go wrong with a file
becomes an :class:`ImageError` with a one-line reason, so one bad file never stops a batch: whatever a decoder
raises (pillow-heif and Pillow's AVIF plugin raise ``RuntimeError`` for some damaged files).

The decompression-bomb limit is ours alone (:func:`check_pixel_limit`, the configured ``max_image_pixels``),
checked on the size the file's header claims, before any pixel is decoded.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from alttext.raw import RAW_EXTENSIONS, RawError, is_raw_name, read_preview

# Extensions we treat as images when walking folders. RAW files are captioned from their embedded
# preview (alttext.raw) and get metadata through sidecars only.
IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".gif", ".bmp",
        ".heic", ".heif", ".avif",
    }
) | RAW_EXTENSIONS

DEFAULT_MAX_PIXELS = 178_956_970  # the default of `max_image_pixels` (twice Pillow's warning level)

# Pillow's own bomb check is switched off, once, for the whole process: it warns at a fixed 89,478,485 px and
# refuses at 178,956,970 px whatever `max_image_pixels` says, and the only per-call way to change that
# (warnings.catch_warnings) is not thread-safe, so decoding in threads gave different answers from run to run.
# check_pixel_limit is the one limit. Never changed per call: threads always see the same value.
Image.MAX_IMAGE_PIXELS = None

_heif_registered = False


class ImageError(Exception):
    """A file or download that cannot be turned into an image; the message is shown to the user."""


def _register_heif() -> None:
    global _heif_registered
    if _heif_registered:
        return
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # optional at run time; HEIC files then fail with a clear error
        pass
    _heif_registered = True


_EXTENSIONS_NO_DOT = frozenset(extension[1:] for extension in IMAGE_EXTENSIONS)


def is_image_name(name: str) -> bool:
    """Whether a file name (no folder) is a photo to index. Hidden files and partial downloads/copies
    (``.part``, ``.crdownload``, ``.tmp``, ``~``) are not: their extension is not an image's. Called for
    every file of every rescan, so it is kept to a few string operations."""
    if not name or name[0] == ".":
        return False
    dot = name.rfind(".")
    return dot > 0 and name[dot + 1 :].lower() in _EXTENSIONS_NO_DOT


def is_image_path(path: str | os.PathLike[str]) -> bool:
    return is_image_name(os.path.basename(os.fspath(path)))


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited onto white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16/32-bit greyscale: stretch the real range to 8 bits instead of clipping at 255.
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        array = ((array - low) * scale).clip(0, 255).astype(np.uint8)
        return Image.fromarray(array, mode="L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "La", "PA"):
        image = image.convert("RGBA")
    if image.mode == "RGBa":
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


# EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose does).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def check_pixel_limit(width: int, height: int, max_pixels: int) -> None:
    """Refuse a picture whose header claims more than ``max_pixels`` pixels (more than the limit, not equal)."""
    pixels = width * height
    if pixels > max_pixels:
        raise ImageError(
            f"image too large ({width}x{height} = {pixels} pixels, limit {max_pixels}): possible decompression bomb"
        )


def open_image(
    source: str | os.PathLike[str] | bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_size: int | None = None,
) -> Image.Image:
    """Decode ``source`` (a path or the file's bytes) into an upright RGB image.

    ``draft_size`` lets JPEG decoding scale down by 1/2–1/8 in the DCT when the picture is much larger
    than the model needs (several times faster on camera photos); the result stays at least that size.
    """
    _register_heif()
    if not isinstance(source, bytes) and is_raw_name(os.fspath(source)):
        return _open_raw(os.fspath(source), max_pixels=max_pixels, draft_size=draft_size)
    if isinstance(source, bytes):
        if not source:
            raise ImageError("empty file (0 bytes)")
        stream: io.BytesIO | Path = io.BytesIO(source)
    else:
        stream = Path(source)
        try:
            if stream.stat().st_size == 0:
                raise ImageError("empty file (0 bytes)")
        except FileNotFoundError as exc:
            raise ImageError("file vanished before it could be read") from exc
        except PermissionError as exc:
            raise ImageError("permission denied") from exc
        except OSError as exc:
            raise ImageError(f"cannot read file: {exc.strerror or exc}") from exc

    return _decode(stream, max_pixels=max_pixels, draft_size=draft_size)


def _open_raw(path: str, *, max_pixels: int, draft_size: int | None) -> Image.Image:
    """A RAW file's embedded preview, decoded under the same rules as any image, turned upright with
    the RAW's own orientation (docs/architecture.md §10)."""
    if not os.path.lexists(path):
        raise ImageError("file vanished before it could be read")
    try:
        preview = read_preview(path)
    except RawError as exc:
        raise ImageError(str(exc)) from exc
    if isinstance(preview.data, bytes):
        if not preview.data:
            raise ImageError("the RAW file's preview is empty")
        return _decode(io.BytesIO(preview.data), max_pixels=max_pixels, draft_size=draft_size,
                       orientation=preview.orientation)
    array = preview.data
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ImageError(f"the RAW file's preview has an unexpected layout {array.shape} {array.dtype}")
    check_pixel_limit(array.shape[1], array.shape[0], max_pixels)
    image = Image.fromarray(array, mode="RGB")
    transpose = _ORIENTATION_TRANSPOSE.get(preview.orientation)
    return image.transpose(transpose) if transpose is not None else image


def _decode(stream: io.BytesIO | Path, *, max_pixels: int, draft_size: int | None,
            orientation: int | None = None) -> Image.Image:
    """Decode with Pillow; ``orientation`` (EXIF 1-8), when given, replaces the file's own tag."""
    with _decoder_errors(), Image.open(stream) as image:
        # Image.open has parsed the header; no pixel is decoded yet: refuse a bomb now.
        check_pixel_limit(*image.size, max_pixels)
        if draft_size and image.format in ("JPEG", "MPO"):  # MPO: a camera JPEG with MPF previews
            image.draft("RGB", (draft_size, draft_size))
        if draft_size and orientation is None and image.format == "HEIF":
            thumbnail = _heif_thumbnail(image, stream, draft_size)
            if thumbnail is not None:
                return thumbnail
        image.seek(0)  # first frame of GIF/TIFF/WebP animations
        image.load()
        if orientation is None:
            upright = ImageOps.exif_transpose(image)
        else:
            transpose = _ORIENTATION_TRANSPOSE.get(orientation)
            upright = image.transpose(transpose) if transpose is not None else image
        return to_rgb(upright)


def _heif_thumbnail(image: Image.Image, stream: io.BytesIO | Path, draft_size: int) -> Image.Image | None:
    """The smallest thumbnail a HEIC/HEIF holds that is at least ``draft_size`` on both sides, upright, or None.

    HEVC has no reduced decode (a 12 MP phone photo costs about a second of CPU here, five times what the
    int8 model spends on it), but phones store a 320 px (or larger) thumbnail of the same picture beside it:
    enough for a 224 px model (``alttext caption``); a scan keys a HEIC by its decoded pixels and keeps a
    768 px thumbnail, so it decodes the picture anyway.
    libheif applies the picture's rotation and mirroring to the thumbnail too; one whose shape differs from
    the picture's (a writer that turned only the picture) is not used."""
    import pillow_heif

    if not image.info.get("thumbnails"):
        return None
    try:
        if isinstance(stream, io.BytesIO):
            stream.seek(0)
        heif = pillow_heif.open_heif(stream, convert_hdr_to_8bit=True)
        primary = heif[heif.primary_index]
        listed = primary.info.get("thumbnails")
        thumbs = [primary.get_thumbnail(index) for index in range(len(listed) if isinstance(listed, list) else 0)]
        fitting = [thumb for thumb in thumbs if min(thumb.size) >= draft_size]
        if not fitting:
            return None
        thumb = min(fitting, key=lambda candidate: candidate.size[0] * candidate.size[1])
        width, height = image.size  # upright: libheif has applied the picture's transformations
        if abs(thumb.size[0] / thumb.size[1] - width / height) > 0.02 * (width / height):
            return None
        return to_rgb(thumb.to_pillow())
    except Exception:  # a damaged thumbnail: the picture itself decides whether the file is good
        return None


@dataclass(frozen=True)
class Header:
    """What a file's header says, before any pixel is decoded."""

    format: str
    width: int  # upright: swapped when the orientation turns the picture by 90 degrees
    height: int
    orientation: int  # the EXIF/XMP orientation ImageOps.exif_transpose applies, 1 when none or invalid


_PNG_TEXT_CHUNKS = (b"eXIf", b"iTXt", b"tEXt", b"zTXt")


def read_header(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Header:
    """Parse a file's header (its bytes) without decoding the picture: format, upright size, orientation.

    The orientation is the one :func:`open_image` applies (Pillow's ``getexif``: EXIF, else XMP). A PNG
    may keep its metadata after the picture data, where Pillow only looks after a full decode; such a PNG
    is decoded here, so the answer is always the same as ``open_image``'s."""
    _register_heif()
    if not data:
        raise ImageError("empty file (0 bytes)")
    with _decoder_errors(), Image.open(io.BytesIO(data)) as image:
        check_pixel_limit(*image.size, max_pixels)
        if image.format == "PNG":
            tail = data[max(data.rfind(b"IDAT"), 0):]
            if "exif" not in image.info and any(kind in tail for kind in _PNG_TEXT_CHUNKS):
                image.load()  # makes Pillow read the chunks after IDAT
            # PngImageFile.getexif decodes the whole picture whenever it has no EXIF; the base one reads
            # only what the header (or the load above) found.
            exif = Image.Image.getexif(image)
        else:
            exif = image.getexif()
        orientation = exif.get(0x0112, 1)
        if orientation not in range(1, 9):
            orientation = 1
        width, height = image.size
        if orientation >= 5:  # 5-8 turn the picture by 90 degrees
            width, height = height, width
        return Header(str(image.format), width, height, int(orientation))


@contextmanager
def _decoder_errors() -> Iterator[None]:
    """Turn whatever decoding raises into one :class:`ImageError` with a one-line reason."""
    try:
        yield
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError("not an image, or a format this installation cannot decode") from exc
    except FileNotFoundError as exc:
        raise ImageError("file vanished before it could be read") from exc
    except PermissionError as exc:
        raise ImageError("permission denied") from exc
    except MemoryError as exc:
        raise ImageError("not enough memory to decode the image") from exc
    except Exception as exc:
        # Pillow reports truncation and corrupt streams as OSError/SyntaxError/ValueError/EOFError; decoders
        # written in C (libheif, libavif) as RuntimeError; a plugin bug as anything. All mean: this file is bad.
        text = " ".join(str(exc).split()) or type(exc).__name__  # one line, whatever the decoder wrote
        if "truncated" in text:
            text = "image file is truncated"
        raise ImageError(f"cannot decode image: {text}") from exc


# Never let Pillow silently fill a truncated file with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False
