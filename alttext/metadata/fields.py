"""The metadata fields alttext reads and writes, its own provenance marks, and text normalisation.

Everything here is plain Python (no exiv2), so it can be used from any thread.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

# Field names as the CLI spells them (`--fields alt,description,exif,iptc,extdescr`).
ALT = "alt"
DESCRIPTION = "description"
EXIF = "exif"
IPTC = "iptc"
# The long description (captions.description, docs/architecture.md §13): its own text, not the alt text.
EXTDESCR = "extdescr"
ALL_FIELDS = (ALT, DESCRIPTION, EXIF, IPTC, EXTDESCR)

# exiv2 keys. exiv2's prefix for Iptc4xmpCore (http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/) is "iptc";
# exiftool shows the same property as XMP-iptcCore:AltTextAccessibility.
KEY_ALT = "Xmp.iptc.AltTextAccessibility"
KEY_EXTDESCR = "Xmp.iptc.ExtDescrAccessibility"
KEY_DESCRIPTION = "Xmp.dc.description"
KEY_IMAGE_DESCRIPTION = "Exif.Image.ImageDescription"
KEY_CAPTION_ABSTRACT = "Iptc.Application2.Caption"
KEY_IPTC_CHARSET = "Iptc.Envelope.CharacterSet"
IPTC_UTF8 = "\x1b%G"  # ISO 2022 escape sequence that declares UTF-8 in IPTC-IIM 1:90
KEY_MAKE = "Exif.Image.Make"
KEY_MODEL = "Exif.Image.Model"

# alttext's own XMP namespace: it records what alttext itself wrote, so a later run can tell its own
# earlier text from text a person wrote. `.invalid` is a reserved TLD: the URI is an identifier only.
# Changing it would orphan the marks in files written so far.
ALTTEXT_NS = "http://alttext.invalid/xmp/1.0/"
ALTTEXT_PREFIX = "alttext"
KEY_TOOL = "Xmp.alttext.Tool"

FIELD_KEYS = {
    ALT: KEY_ALT,
    DESCRIPTION: KEY_DESCRIPTION,
    EXIF: KEY_IMAGE_DESCRIPTION,
    IPTC: KEY_CAPTION_ABSTRACT,
    EXTDESCR: KEY_EXTDESCR,
}
# The same fields as exiftool names them (what a person checks a write with: `exiftool -G1 -a FILE`).
FIELD_LABELS = {
    ALT: "XMP-iptcCore:AltTextAccessibility",
    DESCRIPTION: "XMP-dc:Description",
    EXIF: "EXIF:ImageDescription",
    IPTC: "IPTC:Caption-Abstract",
    EXTDESCR: "XMP-iptcCore:ExtDescrAccessibility",
}
# One mark per field, value "<origin> sha256:<hex>" with origin "model" or "human" (human-approved).
MARK_KEYS = {
    ALT: "Xmp.alttext.AltTextAccessibility",
    DESCRIPTION: "Xmp.alttext.Description",
    EXIF: "Xmp.alttext.ImageDescription",
    IPTC: "Xmp.alttext.CaptionAbstract",
    EXTDESCR: "Xmp.alttext.ExtDescrAccessibility",
}
LANG_ALT_FIELDS = frozenset({ALT, DESCRIPTION, EXTDESCR})

# Limits. Alt text should be a sentence or two; 16 KiB is far beyond any sensible caption and keeps the
# XMP of a JPEG (alt text and dc:description, each twice: x-default + language) inside the one 64 KB APP1
# segment that JPEG allows without "extended XMP", which alttext does not write.
MAX_TEXT_BYTES = 16 * 1024
IPTC_CAPTION_MAX_BYTES = 2000  # IIM 2:120 Caption-Abstract is at most 2000 octets

# XML 1.0 forbids most C0 control characters; exiv2 would write them into a packet no reader can parse.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_LANG_TAG = re.compile(r"^(x-default|[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*)$")


class TextError(ValueError):
    """The caption itself cannot be embedded (empty, too long, not text)."""


def clean_text(text: str) -> str:
    """Normalise a caption for writing and comparing: NFC, no XML-forbidden characters, trimmed."""
    if not isinstance(text, str):
        raise TextError("alt text must be a string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TextError("alt text is not valid Unicode (lone surrogate)") from exc
    text = _XML_FORBIDDEN.sub("", unicodedata.normalize("NFC", text)).strip()
    if not text:
        raise TextError("alt text is empty")
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise TextError(
            f"alt text is {size} bytes; the limit is {MAX_TEXT_BYTES} (alt text should be short, and JPEG"
            " keeps XMP in one 64 KB segment)"
        )
    return text


def same_text(a: str | None, b: str | None) -> bool:
    """Equality the way a reader sees it: NFC-normalised, surrounding whitespace ignored."""
    if a is None or b is None:
        return False
    return unicodedata.normalize("NFC", a).strip() == unicodedata.normalize("NFC", b).strip()


def check_lang(lang: str) -> str:
    """Validate an RFC 5646-ish language tag; raises ValueError (a caller error, not a per-file one)."""
    if not isinstance(lang, str) or not _LANG_TAG.match(lang):
        raise ValueError(f"invalid language tag {lang!r} (expected e.g. 'en', 'de-CH' or 'x-default')")
    return lang if lang == "x-default" else lang.lower()


def text_digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(unicodedata.normalize("NFC", text).strip().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Mark:
    """alttext's record of one value it wrote: whether a person approved it, and the text's hash."""

    origin: str  # "model" or "human"
    digest: str

    def encode(self) -> str:
        return f"{self.origin} {self.digest}"

    @classmethod
    def decode(cls, raw: str | None) -> Mark | None:
        if not raw:
            return None
        origin, _, digest = raw.strip().partition(" ")
        if origin not in ("model", "human") or not digest.startswith("sha256:"):
            return None
        return cls(origin, digest)

    def matches(self, text: str | None) -> bool:
        return text is not None and text_digest(text) == self.digest


def lang_matches(a: str, b: str) -> bool:
    return a.lower() == b.lower()
