"""Which writer a file gets, decided from its bytes (not its name) and, for RAW, its extension.

- exiv2 writes JPEG, PNG, WebP and TIFF in place, losslessly.
- HEIC/HEIF/AVIF (exiv2's "bmff"): exiv2 can read them but not write them; exiftool writes them when it
  is installed, otherwise they get a sidecar.
- RAW files always get a sidecar: their raw payload cannot be decoded here to prove it unchanged, and
  raw converters read sidecars anyway. DNG counts as RAW for the same reason.
- GIF, BMP and anything else exiv2 cannot read metadata from get a sidecar: without reading the
  existing values alttext could not tell whether it would overwrite someone's text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from alttext.raw import RAW_EXTENSIONS

# Some RAW formats exiv2 does not recognise; these magic numbers still tell an image from a text file.
_RAW_MAGIC = (b"II*\x00", b"MM\x00*", b"IIRO", b"IIRS", b"IIU\x00", b"FUJIFILM", b"FOVb", b"\x00MRM")

IN_PLACE_TYPES = frozenset({"jpeg", "png", "webp", "tiff"})
EXIFTOOL_TYPES = frozenset({"bmff"})
# Pillow can decode these, so a sidecar can at least be written for them.
SIDECAR_ONLY_TYPES = frozenset({"gif", "bmp", "jp2", "psd", "tga", "pgf"})

IN_PLACE = "in-place"
EXIFTOOL = "exiftool"
SIDECAR_ONLY = "sidecar-only"
NOT_AN_IMAGE = "not-an-image"

SIDECAR_STYLES = ("ext.xmp", "xmp")


@dataclass(frozen=True)
class Format:
    image_type: str  # exiv2's name, or "none"
    kind: str  # IN_PLACE, EXIFTOOL, SIDECAR_ONLY or NOT_AN_IMAGE
    label: str  # for messages: "JPEG", "HEIC/AVIF", "RAW (.nef)"


def classify(path: str, image_type: str, head: bytes, pillow_format: str | None = None) -> Format:
    """Decide the writer for a file: ``image_type`` is exiv2's name for it, ``head`` its first bytes,
    ``pillow_format`` what Pillow identifies it as (None when Pillow cannot)."""
    ext = os.path.splitext(path)[1].lower()
    if ext in RAW_EXTENSIONS:
        if image_type != "none" or head.startswith(_RAW_MAGIC):
            return Format(image_type, SIDECAR_ONLY, f"RAW ({ext})")
        return Format(image_type, NOT_AN_IMAGE, f"RAW ({ext})")
    if image_type in IN_PLACE_TYPES:
        return Format(image_type, IN_PLACE, image_type.upper())
    if image_type in EXIFTOOL_TYPES:
        return Format(image_type, EXIFTOOL, "HEIC/AVIF")
    if image_type in SIDECAR_ONLY_TYPES:
        return Format(image_type, SIDECAR_ONLY, image_type.upper())
    if pillow_format:  # an image exiv2 does not know (GIF in libexiv2 0.28): it can take a sidecar
        return Format(image_type, SIDECAR_ONLY, pillow_format)
    return Format(image_type, NOT_AN_IMAGE, image_type)


def sidecar_path(path: str, style: str = "ext.xmp") -> str:
    """``IMG.CR2.xmp`` (style "ext.xmp", darktable's and the default) or ``IMG.xmp`` (style "xmp").

    An existing sidecar spelled ``.XMP`` is reused rather than creating a second one.
    """
    if style not in SIDECAR_STYLES:
        raise ValueError(f"sidecar_name must be one of {SIDECAR_STYLES}, not {style!r}")
    stem = path if style == "ext.xmp" else os.path.splitext(path)[0]
    for suffix in (".xmp", ".XMP"):
        if os.path.exists(stem + suffix):
            return stem + suffix
    return stem + ".xmp"


def existing_sidecars(path: str) -> list[str]:
    """Every sidecar of ``path`` that exists, in both naming styles (preferred style first)."""
    found = []
    for style in SIDECAR_STYLES:
        candidate = sidecar_path(path, style)
        if os.path.isfile(candidate) and candidate not in found:
            found.append(candidate)
    return found
