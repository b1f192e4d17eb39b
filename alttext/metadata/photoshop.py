"""Keeping a JPEG's Photoshop segment (APP13: IPTC-IIM and its digest) as Photoshop expects it.

libexiv2 re-encodes the IIM on every JPEG write, even when only XMP changed (it "repairs" values such as
a 6-byte TimeCreated into "HHMMSS+0000"), and never updates the IPTCDigest (resource 0x0425, an MD5 of
the IIM resource 0x0404). A stale digest makes Photoshop, Lightroom and exiftool conclude that a
non-compliant tool edited the IIM and distrust it. So:

- when alttext does not write IPTC, the original APP13 segments are put back byte for byte;
- when it does, the digest is recomputed in place (same 16 bytes, no offsets move), but only if it was
  current before: a digest that was already stale keeps saying so. exiftool behaves the same way.
"""

from __future__ import annotations

import hashlib
import struct

from alttext.metadata.jpeg import segments

_PHOTOSHOP = b"Photoshop 3.0\x00"
_IPTC = 0x0404
_DIGEST = 0x0425


def _app13_segments(jpeg: bytes) -> list[tuple[int, int]]:
    """(start, end) of every Photoshop APP13 segment (marker included) before the image data."""
    return [
        (start, end)
        for marker, start, end in segments(jpeg)
        if marker == 0xED and jpeg[start + 4 : start + 4 + len(_PHOTOSHOP)] == _PHOTOSHOP
    ]


def _resources(segment: bytes) -> dict[int, tuple[int, int]]:
    """resource id -> (offset, size) of its data, within one APP13 segment (marker included)."""
    found = {}
    pos = 4 + len(_PHOTOSHOP)
    while pos + 12 <= len(segment) and segment[pos : pos + 4] == b"8BIM":
        resource = struct.unpack(">H", segment[pos + 4 : pos + 6])[0]
        name_length = segment[pos + 6]
        pos += 6 + 1 + name_length
        pos += (1 + name_length) % 2  # the Pascal name is padded to an even length
        if pos + 4 > len(segment):
            break
        size = struct.unpack(">I", segment[pos : pos + 4])[0]
        found[resource] = (pos + 4, size)
        pos += 4 + size + size % 2
    return found


def _digest_location(jpeg: bytes) -> tuple[int, bytes] | None:
    """(absolute offset of the stored digest, MD5 of the IIM now), when one segment holds both."""
    for start, end in _app13_segments(jpeg):
        segment = jpeg[start:end]
        resources = _resources(segment)
        if _IPTC in resources and _DIGEST in resources and resources[_DIGEST][1] == 16:
            offset, size = resources[_IPTC]
            actual = hashlib.md5(segment[offset : offset + size], usedforsecurity=False).digest()
            return start + resources[_DIGEST][0], actual
    return None


def digest_is_current(jpeg: bytes) -> bool:
    """True when the file has an IPTCDigest and it matches its IIM."""
    found = _digest_location(jpeg)
    return found is not None and jpeg[found[0] : found[0] + 16] == found[1]


def refresh_iptc_digest(jpeg: bytes) -> bytes:
    """``jpeg`` with its IPTCDigest set to the MD5 of its IIM (unchanged where there is none)."""
    found = _digest_location(jpeg)
    if found is None:
        return jpeg
    at, actual = found
    return jpeg[:at] + actual + jpeg[at + 16 :]


def keep_original_app13(original: bytes, rewritten: bytes) -> bytes:
    """``rewritten`` with its Photoshop segments replaced by the original's, byte for byte.

    Only when both have the same number of them (the normal case); otherwise ``rewritten`` as it is.
    """
    old = _app13_segments(original)
    new = _app13_segments(rewritten)
    if not old or len(old) != len(new):
        return rewritten
    parts, pos = [], 0
    for (start, end), (old_start, old_end) in zip(new, old, strict=True):
        parts += [rewritten[pos:start], original[old_start:old_end]]
        pos = end
    parts.append(rewritten[pos:])
    return b"".join(parts)
