"""Recognising text that cameras, scanners and editors put into description fields by default.

Such text is not a description of the picture: it is never imported as a caption, and a field holding
only boilerplate counts as empty when alttext decides whether it may write there.
"""

from __future__ import annotations

import re
import unicodedata

# Compared case-insensitively after collapsing whitespace.
_EXACT = frozenset(
    s.lower()
    for s in (
        "OLYMPUS DIGITAL CAMERA",
        "SONY DSC",
        "DCIM",
        "DIGITAL CAMERA",
        "KODAK Digital Still Camera",
        "KODAK CSC",
        "MINOLTA DIGITAL CAMERA",
        "KONICA MINOLTA DIGITAL CAMERA",
        "PENTAX DIGITAL CAMERA",
        "SAMSUNG DIGITAL CAMERA",
        "SAMSUNG CAMERA PICTURES",
        "Samsung Digital Cam",
        "CASIO DIGITAL CAMERA",
        "SANYO DIGITAL CAMERA",
        "FUJIFILM DIGITAL CAMERA",
        "NIKON DIGITAL CAMERA",
        "LEICA DIGITAL CAMERA",
        "RICOH DIGITAL CAMERA",
        "HP DIGITAL CAMERA",
        "Digital Still Camera",
        "EXIF_JPEG_PICTURE",
        "JPEG PICTURE",
        "Exif JPEG",
        "LG Electronics",
        "Created with GIMP",
        "Image",
        "Picture",
        "Photo",
        "Photograph",
        "Untitled",
        "Untitled image",
        "No description",
        "Description",
        "Default",
        "Title",
        "Caption",
        "None",
        "N/A",
        "Unknown",
        "<unknown>",
        "Screenshot",
        "Scanned image",
        "Scanned document",
        "x-default",
    )
)
# "ACME DIGITAL CAMERA", "FOO DSC", "SOME CAMERA": an all-caps vendor string ending in camera words.
_CAMERA_WORDS = re.compile(r"^[A-Z0-9 ._&-]*\b(DIGITAL( STILL)? CAMERA|DSC|CAMERA|CAM)$")
# File names and camera counters: IMG_1234.JPG, DSC01234, P1010001, DSCF0001.
_FILE_NAME = re.compile(
    r"^(img|dsc|dscf|dscn|dcim|pict?|p|imag|photo|pxl|mvimg|sam|gopr|dji)[_-]?\d{3,}"
    r"([_-]\w+)?(\.(jpe?g|png|heic|tiff?|dng|raw|cr2|nef|arw))?$",
    re.IGNORECASE,
)


def _collapse(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def is_boilerplate(text: str | None, *, make: str | None = None, model: str | None = None) -> bool:
    """True for text that says nothing about the picture (empty, camera defaults, file names, make/model)."""
    if text is None:
        return True
    collapsed = _collapse(text)
    if not collapsed:
        return True
    # Nothing but punctuation or filler ("...", "-", "_____").
    if not any(ch.isalnum() for ch in collapsed):
        return True
    lowered = collapsed.lower()
    if lowered in _EXACT:
        return True
    if _CAMERA_WORDS.match(collapsed):
        return True
    if _FILE_NAME.match(collapsed):
        return True
    # Some cameras copy Make and/or Model into ImageDescription.
    parts = [_collapse(v).lower() for v in (make, model) if v and _collapse(v)]
    return bool(parts) and lowered in {*parts, " ".join(parts)}
