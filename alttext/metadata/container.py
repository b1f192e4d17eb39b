"""Reading an image file's metadata with whichever tool reads that format reliably.

libexiv2 0.28 recognises HEIC/AVIF ("bmff") but does not find the XMP in many of them (e.g. those
pillow-heif or exiftool write), so for those exiftool extracts the raw XMP packet and EXIF blob and
exiv2 parses them. Everything else is parsed by exiv2 directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from alttext.metadata import exiftool, exiv2io
from alttext.metadata.exiv2io import Metadata, MetadataError
from alttext.metadata.formats import EXIFTOOL_TYPES


@dataclass(frozen=True)
class Contents:
    meta: Metadata
    xmp_packet: bytes | None = None  # the raw packet, where exiftool extracted it
    tag_names: frozenset[str] | None = None  # exiftool's tag names, where exiftool read the file


def read(data: bytes, image_type: str) -> Contents:
    """Raises MetadataError with a one-line message."""
    if image_type in EXIFTOOL_TYPES and exiftool.exiftool_path() is not None:
        try:
            found = exiftool.extract(data)
        except exiftool.ExiftoolError as exc:
            raise MetadataError(str(exc)) from exc
        return Contents(exiv2io.read_parts(found.xmp, found.exif, image_type), found.xmp, found.tags)
    return Contents(exiv2io.read(data))
