"""Keeping a PNG's own chunks byte-identical around exiv2's metadata chunks.

exiv2 rewrites a PNG's "Description" text chunk as a compressed iTXt without its language tag and
reorders chunks. So alttext takes only the metadata chunks from exiv2's output (eXIf, the XMP iTXt
and ImageMagick-style "Raw profile type …" text chunks) and splices them into the original file in
place of the old ones; every other chunk keeps its bytes and its order.
"""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
_MANAGED_KEYWORDS = (
    b"XML:com.adobe.xmp",
    b"Raw profile type exif",
    b"Raw profile type APP1",
    b"Raw profile type iptc",
    b"Raw profile type xmp",
)


class PngError(ValueError):
    pass


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split a PNG into (type, complete chunk bytes incl. length and CRC); raises PngError if broken.

    Anything after IEND comes last with type ``b""``.
    """
    if not data.startswith(SIGNATURE):
        raise PngError("not a PNG")
    out = []
    pos = len(SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise PngError("truncated PNG chunk")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 12 + length
        if end > len(data):
            raise PngError("truncated PNG chunk")
        kind = data[pos + 4 : pos + 8]
        chunk = data[pos:end]
        if zlib.crc32(chunk[4:-4]) != struct.unpack(">I", chunk[-4:])[0]:
            raise PngError(f"bad CRC in PNG chunk {kind!r}")
        out.append((kind, chunk))
        pos = end
        if kind == b"IEND":
            break
    if pos < len(data):
        out.append((b"", data[pos:]))  # bytes after IEND are kept as they are
    return out


def _is_managed(kind: bytes, chunk: bytes) -> bool:
    if kind == b"eXIf":
        return True
    if kind in _TEXT_CHUNKS:
        keyword = chunk[8:].split(b"\x00", 1)[0]
        return keyword in _MANAGED_KEYWORDS
    return False


def splice_metadata(original: bytes, rewritten: bytes) -> bytes:
    """The original PNG with its metadata chunks replaced by those of ``rewritten`` (exiv2's output)."""
    old = chunks(original)
    new_metadata = [chunk for kind, chunk in chunks(rewritten) if _is_managed(kind, chunk)]
    if not old or old[0][0] != b"IHDR":
        raise PngError("PNG does not start with IHDR")
    # Metadata goes right after IHDR: eXIf must precede IDAT, and XMP is found fastest there.
    out = [SIGNATURE, old[0][1], *new_metadata]
    out.extend(chunk for kind, chunk in old[1:] if not _is_managed(kind, chunk))
    return b"".join(out)
