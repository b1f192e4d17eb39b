"""Checking a rewritten file before it replaces the original: our values are there, nothing else moved."""

from __future__ import annotations

from alttext.metadata.exiv2io import Metadata, Plan
from alttext.metadata.fields import lang_matches, same_text

# Tags whose values are offsets into the file or byte blobs that embed offsets: their bytes may change
# when a segment grows, although nothing they point at does. Their presence is still checked.
_POINTER_TAGS = frozenset(
    {
        "ExifTag", "GPSTag", "InteroperabilityTag", "JPEGInterchangeFormat", "StripOffsets", "TileOffsets",
        "SubIFDs", "MakerNote", "Offset", "ThumbnailOffset", "PreviewImageStart", "JpgFromRawStart",
    }
)


class VerifyError(Exception):
    """The rewritten file is not what it should be; the original is left alone."""


def _volatile(key: str) -> bool:
    name = key.rsplit(".", 1)[-1]
    return name in _POINTER_TAGS or name.endswith(("Offset", "Offsets", "Start"))


def _containers(plan: Plan, before: Metadata) -> set[str]:
    """Keys that hold other metadata as a blob, and so change when what they hold changes (TIFF keeps
    XMP in tag 700 and IPTC in tags 33723 and 34377)."""
    keys = set()
    if before.image_type == "tiff":
        if any(k.startswith("Xmp.") for k in plan.all_keys()):
            keys.add("Exif.Image.XMLPacket")
        if any(k.startswith("Iptc.") for k in plan.all_keys()):
            keys |= {"Exif.Image.IPTCNAA", "Exif.Image.ImageResources"}
    return keys


def _listed(keys: set[str], limit: int = 5) -> str:
    shown = sorted(keys)[:limit]
    return ", ".join(shown) + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def check(before: Metadata, after: Metadata, plan: Plan, *, allowed_new: frozenset[str] = frozenset()) -> None:
    """Raise VerifyError unless ``after`` is ``before`` plus exactly ``plan``."""
    for key, entries in plan.lang_alt.items():
        got = after.lang_alts.get(key, {})
        for lang, text in entries.items():
            if not any(lang_matches(k, lang) and same_text(v, text) for k, v in got.items()):
                raise VerifyError(f"{key} [{lang}] did not read back")
        for lang, text in before.lang_alts.get(key, {}).items():
            if any(lang_matches(lang, mine) for mine in entries):
                continue
            if got.get(lang) != text:
                raise VerifyError(f"{key} lost its {lang!r} entry")
    for key, text in plan.strings.items():
        values = after.values.get(key, ())
        if not values or not same_text(values[0].rstrip("\x00"), text):
            raise VerifyError(f"{key} did not read back")
    touched = plan.all_keys() | _containers(plan, before)
    lost = set(before.values) - set(after.values)
    if lost:
        raise VerifyError(f"the rewrite would lose {_listed(lost)}")
    added = set(after.values) - set(before.values) - touched - allowed_new
    if added:
        raise VerifyError(f"the rewrite added unexpected tags {_listed(added)}")
    changed = {
        key for key, values in before.values.items()
        if key not in touched and not _volatile(key) and after.values.get(key) != values
    }
    if changed:
        raise VerifyError(f"the rewrite changed {_listed(changed)}")
