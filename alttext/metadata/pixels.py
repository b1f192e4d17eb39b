"""Proving a write left the picture alone: a digest of the decoded pixels of every frame.

The decode is raw (no EXIF rotation, no colour conversion), so any change to the image payload, the
frame count, the size, the mode or the embedded ICC profile changes the digest.
"""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageSequence, UnidentifiedImageError

# Importing alttext.images switches Pillow's own bomb check off (set once: see there); its check is used instead.
from alttext.images import DEFAULT_MAX_PIXELS, ImageError, check_pixel_limit

MAX_FRAMES = 256

try:  # HEIC/AVIF decoding; without it those files cannot be verified and are not written in place
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    pass


class PixelError(Exception):
    """The image data cannot be decoded, so a write could not be verified."""


def pillow_format(data: bytes) -> str | None:
    """Pillow's name for the format of ``data`` (reads the header only), or None."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format
    except Exception:  # any failure here just means "not something Pillow recognises"
        return None


def pixel_digest(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """SHA-256 over mode, size and raw pixels of every frame, plus the ICC profile."""
    digest = hashlib.sha256()
    try:
        with Image.open(io.BytesIO(data)) as image:
            digest.update(repr(image.info.get("icc_profile")).encode())
            for count, frame in enumerate(ImageSequence.Iterator(image)):
                if count >= MAX_FRAMES:
                    break
                check_pixel_limit(*frame.size, max_pixels)  # before each frame is decoded
                frame.load()
                digest.update(f"{frame.mode} {frame.size}".encode())
                digest.update(frame.tobytes())
    except (UnidentifiedImageError, ImageError) as exc:
        raise PixelError(f"cannot decode the image to verify it: {exc}") from exc
    except Exception as exc:  # whatever a decoder raises (pillow-heif: RuntimeError) means "cannot verify"
        raise PixelError(f"cannot decode the image to verify it: {str(exc) or type(exc).__name__}") from exc
    return digest.hexdigest()
