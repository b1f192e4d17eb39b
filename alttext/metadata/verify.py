"""Checking a rewritten file before it replaces the original: our values are there, nothing else moved.

Two readers look: libexiv2, which also wrote the file (:func:`check`), and, where it is installed,
exiftool (:func:`check_independent`), which parses XMP on its own. exiv2 cannot catch what it does not
see or silently normalises when it reads (a UTF-16LE packet it cannot parse, a pre-2004 ``about=``
that its XMP toolkit turns into xmpMM:InstanceID); exiftool sees those tags before and after.
"""

from __future__ import annotations

from alttext.metadata.exiv2io import Metadata, Plan
from alttext.metadata.fields import ALTTEXT_PREFIX, lang_matches, same_text

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


# exiftool's group (-G1) for each exiv2 XMP prefix that alttext writes.
_EXIFTOOL_GROUPS = {"iptc": "XMP-iptcCore", "dc": "XMP-dc", ALTTEXT_PREFIX: "XMP-alttext"}
# The packet's serialiser, which names itself there on every write.
_SERIALISER_TAGS = frozenset({"XMP-x:XMPToolkit"})


def _exiftool_name(key: str) -> str | None:
    """exiftool's name for an XMP property alttext writes: Xmp.dc.description -> XMP-dc:Description."""
    family, prefix, prop = key.split(".", 2)
    group = _EXIFTOOL_GROUPS.get(prefix)
    if family != "Xmp" or group is None:
        return None
    return f"{group}:{prop[:1].upper()}{prop[1:]}"


def _property(tag: str) -> str:
    """The property of an exiftool tag name, lower case: XMP-dc:Description-en -> xmp-dc:description."""
    group, _, name = tag.partition(":")
    return f"{group}:{name.split('-', 1)[0]}".lower()


def _written_tags(plan: Plan) -> frozenset[str]:
    """exiftool's names (lower case) of the tags ``plan`` sets; exiftool shows each entry of a Lang Alt
    as a tag of its own: Description (x-default), Description-en, ..."""
    names = {name for key in plan.strings if (name := _exiftool_name(key))}
    for key, entries in plan.lang_alt.items():
        name = _exiftool_name(key)
        if name:
            names |= {name if lang == "x-default" else f"{name}-{lang}" for lang in entries}
    return frozenset(n.lower() for n in names | _SERIALISER_TAGS)


def check_independent(before: dict[str, object], after: dict[str, object], plan: Plan) -> None:
    """Raise VerifyError unless exiftool sees the same XMP tags before and after, apart from those
    ``plan`` sets (``before``/``after``: :func:`alttext.metadata.exiftool.xmp_tags`)."""
    ours = _written_tags(plan)
    lost = {t for t in before if t not in after and t.lower() not in ours}
    if lost:
        raise VerifyError(f"exiftool finds the rewrite without {_listed(lost)}")
    added = {t for t in after if t not in before and t.lower() not in ours}
    if added:
        raise VerifyError(f"exiftool finds the rewrite with unexpected {_listed(added)}")
    changed = {t for t, v in before.items() if t in after and after[t] != v and t.lower() not in ours}
    if changed:
        raise VerifyError(f"exiftool finds the rewrite changed {_listed(changed)}")


def unseen_xmp(before: Metadata, tags: dict[str, object], plan: Plan) -> str | None:
    """Why the file's XMP cannot be rewritten safely when exiv2 missed what exiftool found in it
    (``tags``), else None. The writer decides from exiv2's view: a value it did not see may be a
    person's text."""
    found = {t for t in tags if t not in _SERIALISER_TAGS}
    if found and not any(k.startswith("Xmp.") for k in before.values):
        return ("libexiv2 cannot read the file's XMP packet (exiftool finds "
                f"{_listed(found, 3)}; a UTF-16 packet?): not rewritten, nothing is lost")
    for key in plan.all_keys():
        name = _exiftool_name(key)
        if name and key not in before.values and any(_property(t) == name.lower() for t in found):
            return f"libexiv2 does not see the file's {name}, which exiftool finds: not rewritten"
    return None
