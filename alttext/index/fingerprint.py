"""Content identity of an image file: a hash of its decoded, upright pixels.

Hashing pixels instead of file bytes means that writing metadata (ours, Lightroom's, exiftool's) keeps
the identity and the caption, while a real pixel edit makes a new image. The decoded picture is kept
only as a small thumbnail for the model, so memory stays flat whatever the photos' size.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from PIL import Image

from alttext.images import DEFAULT_MAX_PIXELS, ImageError, open_image

# The model sees at most this many pixels per side (ViT 224, BLIP 384); keeping twice that is plenty.
THUMBNAIL_SIDE = 768


class FileVanished(ImageError):
    """The file disappeared between listing and reading."""


class FileChanging(ImageError):
    """The file changed while we read it (still being written); try again later."""


@dataclass
class Fingerprint:
    pixel_hash: str
    width: int
    height: int
    thumbnail: Image.Image
    stat: os.stat_result  # the stat that matches the content we read


def pixel_hash(image: Image.Image) -> str:
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{image.width}x{image.height}:{image.mode}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def fingerprint_file(path: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Fingerprint:
    try:
        before = os.stat(path)
    except FileNotFoundError as exc:
        raise FileVanished("file vanished before it could be read") from exc
    except OSError as exc:
        raise ImageError(f"cannot read file: {exc.strerror or exc}") from exc
    try:
        image = open_image(path, max_pixels=max_pixels)
    except ImageError as exc:
        if not os.path.lexists(path):
            raise FileVanished("file vanished while it was read") from exc
        raise
    try:
        after = os.stat(path)
    except FileNotFoundError as exc:
        raise FileVanished("file vanished while it was read") from exc
    if (before.st_size, before.st_mtime_ns, before.st_ino) != (after.st_size, after.st_mtime_ns, after.st_ino):
        raise FileChanging("file changed while it was read (still being written?)")
    digest = pixel_hash(image)
    width, height = image.size
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BICUBIC)
    return Fingerprint(digest, width, height, image, after)
