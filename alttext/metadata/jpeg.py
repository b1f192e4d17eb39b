"""Walking a JPEG's marker segments (the part before the image data)."""

from __future__ import annotations

import struct
from collections.abc import Iterator

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"


def segments(jpeg: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, start, end) of each segment before the first scan; start includes the 0xFF marker."""
    if not jpeg.startswith(b"\xff\xd8"):
        return
    pos = 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF:
        marker = jpeg[pos + 1]
        if marker == 0xDA:  # start of scan: no metadata after this
            return
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
        yield marker, pos, pos + 2 + length
        pos += 2 + length


def has_nonstandard_xmp(jpeg: bytes) -> bool:
    """An APP1 segment holding an XMP packet under a header exiv2 does not recognise (some old writers
    used "XMP\\0://ns.adobe.com/..."). exiv2 would neither see nor replace it and add a second packet."""
    for marker, start, end in segments(jpeg):
        body = jpeg[start + 4 : end]
        if marker == 0xE1 and not body.startswith((XMP_HEADER, b"Exif\x00")) and b"<x:xmpmeta" in body[:512]:
            return True
    return False
