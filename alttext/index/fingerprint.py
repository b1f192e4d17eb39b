"""Content identity of an image file, and the model's input (docs/architecture.md §2).

An image's key is the hash of its compressed picture data without metadata (:mod:`content_hash`) plus
the orientation its header declares: writing metadata (ours, Lightroom's, exiftool's) keeps it, a pixel
edit, a lossless rotate or an orientation change makes a new one, and it costs one read of the file and
no decode. Formats whose picture data we don't parse (TIFF, HEIC, AVIF, GIF, BMP) keep the older key,
the hash of the decoded upright pixels. The model's input is decoded only for images the index doesn't
know yet, at draft scale (JPEG DCT scaling), so memory follows the draft size, not the photo's size.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from alttext.images import DEFAULT_MAX_PIXELS, ImageError, open_image, read_header
from alttext.index.content_hash import picture_data_hash
from alttext.raw import is_raw_name

# The model sees at most this many pixels per side (ViT 224, BLIP 384); keeping twice that is plenty.
THUMBNAIL_SIDE = 768


class FileVanished(ImageError):
    """The file disappeared between listing and reading."""


class FileChanging(ImageError):
    """The file changed while we read it (still being written); try again later."""


@dataclass
class Fingerprint:
    content_hash: str  # the image's key (images.content_hash)
    pixel_hash: str | None  # hash of the decoded pixels, when they were decoded in full
    width: int  # upright
    height: int
    thumbnail: Image.Image | None  # the model's input; None when the image is already known
    stat: os.stat_result  # the stat that matches the content we read


def pixel_hash(image: Image.Image) -> str:
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{image.width}x{image.height}:{image.mode}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def content_key(picture_hash: str, orientation: int) -> str:
    """The image key: the picture data's hash and the orientation, which changes the upright pixels."""
    return hashlib.blake2b(f"{picture_hash}:orientation={orientation}".encode(), digest_size=20).hexdigest()


def model_input(path: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The model's input for a file fingerprinted without one (it was known then, and isn't now)."""
    image = open_image(path, max_pixels=max_pixels, draft_size=THUMBNAIL_SIDE)
    return _thumbnail(image)


def _thumbnail(image: Image.Image) -> Image.Image:
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BICUBIC)
    return image


def read_bytes(path: str) -> tuple[bytes, os.stat_result]:
    """The file's bytes and the stat that matches them; FileVanished/FileChanging/ImageError."""
    try:
        before = os.stat(path)
        with open(path, "rb") as handle:
            data = handle.read()
        after = os.stat(path)
    except FileNotFoundError as exc:
        raise FileVanished("file vanished while it was read") from exc
    except PermissionError as exc:
        raise ImageError("permission denied") from exc
    except OSError as exc:
        raise ImageError(f"cannot read file: {exc.strerror or exc}") from exc
    if (before.st_size, before.st_mtime_ns, before.st_ino) != (after.st_size, after.st_mtime_ns, after.st_ino):
        raise FileChanging("file changed while it was read (still being written?)")
    if not data:
        raise ImageError("empty file (0 bytes)")
    return data, after


def fingerprint_file(
    path: str,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    is_known: Callable[[str], bool] | None = None,
    want_pixel_hash: bool = False,
) -> Fingerprint:
    """Read ``path`` once and key it. ``is_known(key)`` says whether the index already has a caption for
    that image: then nothing is decoded. ``want_pixel_hash`` also decodes the full picture of an unknown
    image and hashes its pixels, to recognise images keyed by an older index (docs/architecture.md §2)."""
    data, stat = read_bytes(path)
    if is_raw_name(path):  # a RAW's picture is its embedded preview, keyed by its pixels (docs/architecture.md §10)
        image = open_image(path, max_pixels=max_pixels)
        digest = pixel_hash(image)
        width, height = image.size
        return Fingerprint(digest, digest, width, height, _thumbnail(image), stat)
    picture = picture_data_hash(data)
    if picture is None:  # a format we don't parse, or a damaged file: the decoded pixels are the key
        image = open_image(data, max_pixels=max_pixels)
        digest = pixel_hash(image)
        width, height = image.size
        return Fingerprint(digest, digest, width, height, _thumbnail(image), stat)
    header = read_header(data, max_pixels=max_pixels)
    key = content_key(picture, header.orientation)
    if is_known is not None and is_known(key):
        return Fingerprint(key, None, header.width, header.height, None, stat)
    if want_pixel_hash:
        image = open_image(data, max_pixels=max_pixels)
        return Fingerprint(key, pixel_hash(image), header.width, header.height, _thumbnail(image), stat)
    thumbnail = _thumbnail(open_image(data, max_pixels=max_pixels, draft_size=_draft_side(header.width, header.height)))
    return Fingerprint(key, None, header.width, header.height, thumbnail, stat)


def _draft_side(width: int, height: int) -> int:
    """The draft size that still fills the thumbnail: JPEG's draft keeps *both* sides at least the size
    asked, and the thumbnail's shorter side is what it needs (576 px for a 4:3 photo, so a 12 MP JPEG
    decodes at 1/4 scale instead of 1/2)."""
    return max(1, math.ceil(THUMBNAIL_SIDE * min(width, height) / max(width, height, 1)))
