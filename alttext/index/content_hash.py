"""An image's identity from its compressed picture data, without decoding it (docs/architecture.md §2).

Like exiftool's ImageDataHash: the hash covers the bytes that make the pixels and none of the bytes that
metadata writers change. Per format:

- JPEG: every segment except APPn and COM (so the frame header, quantisation and Huffman tables, restart
  interval and every scan's entropy-coded data), from SOI to the first EOI; nothing after EOI (trailers).
  The Adobe APP14 segment is kept: its colour-transform flag changes the decoded pixels.
- PNG: IHDR, PLTE, tRNS and IDAT (not tEXt/zTXt/iTXt/eXIf/tIME/iCCP...).
- WebP: VP8, VP8L, ALPH, ANIM and ANMF (not VP8X, whose flags change when metadata is added, EXIF, XMP, ICCP).

Anything else (TIFF, HEIC, AVIF, GIF, BMP), and any file whose structure does not parse cleanly, gets
``None`` here: the caller falls back to the hash of the decoded pixels, which also reports a damaged
file with a clear reason. The orientation is not part of this hash; :mod:`alttext.index.fingerprint`
adds it.
"""

from __future__ import annotations

import hashlib
import re
import struct
from typing import Protocol

SCHEME = b"alttext-content-v1\x00"

_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field
# The end of entropy-coded data: 0xFF followed by anything but a stuffed 0x00, a restart marker or fill.
_END_OF_SCAN = re.compile(rb"\xff(?![\x00\xd0-\xd7\xff])")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_PICTURE_CHUNKS = frozenset({b"IHDR", b"PLTE", b"tRNS", b"IDAT"})
_WEBP_PICTURE_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF"})


class Digest(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


class _Malformed(Exception):
    pass


def picture_data_hash(data: bytes) -> str | None:
    """The BLAKE2b hash (40 hex digits) of the picture data of a JPEG, PNG or WebP file's bytes, or None
    for another format or a file that doesn't parse."""
    digest = hashlib.blake2b(digest_size=20)
    view = memoryview(data)
    try:
        if data[:3] == b"\xff\xd8\xff":
            digest.update(SCHEME + b"jpeg\x00")
            _hash_jpeg(view, digest)
        elif data[:8] == _PNG_SIGNATURE:
            digest.update(SCHEME + b"png\x00")
            _hash_png(view, digest)
        elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            digest.update(SCHEME + b"webp\x00")
            _hash_webp(view, digest)
        else:
            return None
    except (_Malformed, struct.error, IndexError):
        return None
    return digest.hexdigest()


def _hash_jpeg(data: memoryview, digest: Digest) -> None:
    size = len(data)
    position = 2
    seen_frame = seen_scan = False
    while True:
        if position + 2 > size:
            raise _Malformed("no EOI")
        if data[position] != 0xFF:
            raise _Malformed("expected a marker")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == 0xD9:  # EOI: the picture ends; anything after it is a trailer
            if not (seen_frame and seen_scan):
                raise _Malformed("no frame or no scan")
            digest.update(b"\xff\xd9")
            return
        if marker in _JPEG_STANDALONE:
            digest.update(data[position : position + 2])
            position += 2
            continue
        if position + 4 > size:
            raise _Malformed("truncated segment")
        (length,) = struct.unpack_from(">H", data, position + 2)
        end = position + 2 + length
        if length < 2 or end > size:
            raise _Malformed("segment runs past the end")
        is_metadata = 0xE0 <= marker <= 0xEF or marker == 0xFE
        if marker == 0xEE and bytes(data[position + 4 : position + 9]) == b"Adobe":
            is_metadata = False  # the colour transform decides how the pixels decode
        if not is_metadata:
            digest.update(data[position:end])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            seen_frame = True
        position = end
        if marker == 0xDA:  # SOS: the entropy-coded data runs to the next real marker
            seen_scan = True
            found = _END_OF_SCAN.search(data, position)
            if found is None:
                raise _Malformed("scan data without an end")
            digest.update(data[position : found.start()])
            position = found.start()


def _hash_png(data: memoryview, digest: Digest) -> None:
    size = len(data)
    position = 8
    seen_header = seen_data = False
    while position + 12 <= size:
        (length,) = struct.unpack_from(">I", data, position)
        kind = bytes(data[position + 4 : position + 8])
        end = position + 12 + length
        if end > size:
            raise _Malformed("chunk runs past the end")
        if kind in _PNG_PICTURE_CHUNKS:
            digest.update(data[position : position + 8 + length])  # length, type and data; not the CRC
            seen_header = seen_header or kind == b"IHDR"
            seen_data = seen_data or kind == b"IDAT"
        if kind == b"IEND":
            if not (seen_header and seen_data):
                raise _Malformed("no IHDR or no IDAT")
            return
        position = end
    raise _Malformed("no IEND")


def _hash_webp(data: memoryview, digest: Digest) -> None:
    (riff_size,) = struct.unpack_from("<I", data, 4)
    size = min(len(data), 8 + riff_size)
    if 8 + riff_size > len(data):
        raise _Malformed("truncated RIFF")
    position = 12
    seen_picture = False
    while position + 8 <= size:
        kind = bytes(data[position : position + 4])
        (length,) = struct.unpack_from("<I", data, position + 4)
        end = position + 8 + length
        if end > size:
            raise _Malformed("chunk runs past the end")
        if kind in _WEBP_PICTURE_CHUNKS:
            digest.update(data[position:end])
            seen_picture = True
        position = end + (length & 1)  # chunks are padded to an even size
    if not seen_picture:
        raise _Malformed("no picture chunk")
