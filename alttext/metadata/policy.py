"""Deciding, field by field, whether alttext may write, and building the change it makes.

Who wrote an existing value
---------------------------
alttext marks every value it writes with an XMP property in its own namespace
(``alttext:AltTextAccessibility``, ``alttext:Description``, ``alttext:ImageDescription``,
``alttext:CaptionAbstract``, ``alttext:ExtDescrAccessibility``) holding ``"model sha256:<hash>"`` or
``"human sha256:<hash>"`` of the text
(``human``: the caption was human-approved in the index). An existing value then counts as

- *empty* when it is missing, blank or camera/editor boilerplate (see :mod:`.boilerplate`): written;
- *the same text* (NFC, whitespace-trimmed): nothing to do;
- *alttext's own model caption* when its hash matches a ``model`` mark: replaced only with ``force``;
- *a person's text* otherwise (no mark, a ``human`` mark, or a value edited since alttext wrote it):
  replaced only with ``force`` **and** a human-approved caption.

Only the x-default entry and the entry of the target language of a Lang Alt are considered; other
languages are kept as they are. When alttext writes a sidecar, a value in the image itself counts too:
a sidecar must not override a person's embedded text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alttext import __version__
from alttext.metadata.boilerplate import is_boilerplate
from alttext.metadata.exiv2io import Metadata, Plan
from alttext.metadata.fields import (
    EXIF,
    FIELD_KEYS,
    FIELD_LABELS,
    IPTC,
    IPTC_CAPTION_MAX_BYTES,
    IPTC_UTF8,
    KEY_IPTC_CHARSET,
    KEY_TOOL,
    LANG_ALT_FIELDS,
    MARK_KEYS,
    Mark,
    lang_matches,
    same_text,
    text_digest,
)

WRITE = "write"
UNCHANGED = "unchanged"
SKIP = "skip"

# Required IFD0 tags of a JPEG's EXIF (EXIF 2.32 §4.6.8): 72 dpi, inches, centred chroma siting.
JPEG_IFD0_DEFAULTS = {
    "Exif.Image.XResolution": "72/1",
    "Exif.Image.YResolution": "72/1",
    "Exif.Image.ResolutionUnit": "2",
    "Exif.Image.YCbCrPositioning": "1",
}

# Where a field cannot go at all (as opposed to being skipped because of an existing value).
INAPPLICABLE = "inapplicable"


@dataclass(frozen=True)
class FieldOutcome:
    """What happened (or, in a dry run, would happen) to one field."""

    field: str  # "alt", "description", "exif", "iptc" or "extdescr"
    action: str  # "write", "unchanged" or "skip"
    reason: str  # one line
    previous: str | None = None  # the value found there, when it mattered
    kind: str = ""  # for skips: "existing" (a value is in the way) or "inapplicable"
    # False when the text was already there (from someone else) and only its Lang Alt entries were
    # completed: alttext then does not mark the value as its own.
    claim: bool = True

    @property
    def label(self) -> str:
        """The field as exiftool names it (XMP-iptcCore:AltTextAccessibility ...)."""
        return FIELD_LABELS[self.field]


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _current(meta: Metadata, field: str, lang: str) -> list[str]:
    """The values of ``field`` that a write in ``lang`` would replace."""
    if field in LANG_ALT_FIELDS:
        entries = meta.lang_alts.get(FIELD_KEYS[field], {})
        return [v for k, v in entries.items() if k == "x-default" or lang_matches(k, lang)]
    value = meta.image_description if field == EXIF else meta.caption_abstract
    return [value] if value is not None else []


def _complete(meta: Metadata, field: str, lang: str, text: str) -> bool:
    """True when every entry alttext would write already holds ``text``."""
    if field not in LANG_ALT_FIELDS:
        return True
    entries = meta.lang_alts.get(FIELD_KEYS[field], {})
    wanted = {"x-default", lang}
    return all(any(lang_matches(k, w) and same_text(v, text) for k, v in entries.items()) for w in wanted)


def _protected(field: str, previous: str, ours: Mark | None, *, force: bool, human_approved: bool,
               where: str) -> FieldOutcome:
    shown = f"{_short(previous)!r}" + (f" (in {where})" if where else "")
    if ours is not None and ours.origin == "model":
        if force:
            return FieldOutcome(field, WRITE, f"replaced alttext's earlier caption {shown}", previous)
        return FieldOutcome(field, SKIP, f"holds alttext's earlier caption {shown}; force replaces it",
                            previous, "existing")
    if force and human_approved:
        return FieldOutcome(field, WRITE, f"replaced {shown} with a human-approved caption", previous)
    if force:
        return FieldOutcome(field, SKIP, f"kept {shown}, written by a person: only a human-approved caption"
                            " replaces it", previous, "existing")
    return FieldOutcome(field, SKIP, f"kept existing {shown}", previous, "existing")


def decide(field: str, text: str, lang: str, target: Metadata, *, image: Metadata | None = None,
           force: bool = False, human_approved: bool = False) -> FieldOutcome:
    """Decide one field for a write of ``text`` into ``target`` (``image``: the picture, when
    ``target`` is its sidecar)."""
    sources = [(target, "")] + ([(image, "the image")] if image is not None else [])
    replaced_boilerplate = None
    for meta, where in sources:
        values = _current(meta, field, lang)
        meaningful = [v for v in values if not is_boilerplate(v, make=meta.make, model=meta.model)]
        if not meaningful:
            replaced_boilerplate = replaced_boilerplate or next((v for v in values if v.strip()), None)
            continue
        differing = [v for v in meaningful if not same_text(v, text)]
        if not differing:
            if meta is target and not _complete(target, field, lang, text):
                return FieldOutcome(field, WRITE, "completed the x-default/language entries of the same text",
                                    claim=False)
            if meta is target:
                return FieldOutcome(field, UNCHANGED, "already holds this text")
            continue  # the image has it; the sidecar does not yet
        mark = meta.marks.get(field)
        ours = mark if mark is not None and all(mark.matches(v) for v in differing) else None
        return _protected(field, differing[0], ours, force=force, human_approved=human_approved, where=where)
    if replaced_boilerplate:
        return FieldOutcome(field, WRITE, f"replaced boilerplate {_short(replaced_boilerplate)!r}",
                            replaced_boilerplate)
    return FieldOutcome(field, WRITE, "was empty")


def inapplicable(field: str, reason: str) -> FieldOutcome:
    return FieldOutcome(field, SKIP, reason, None, INAPPLICABLE)


def iptc_obstacle(meta: Metadata, text: str) -> str | None:
    """Why Caption-Abstract cannot be written into this file, or None."""
    if not meta.has_iptc:
        return "the file has no IPTC-IIM block (alttext only adds to an existing one)"
    if len(text.encode("utf-8")) > IPTC_CAPTION_MAX_BYTES:
        return f"too long for IPTC Caption-Abstract ({IPTC_CAPTION_MAX_BYTES} bytes at most)"
    if not text.isascii() and meta.iptc_charset != IPTC_UTF8 and (
        meta.iptc_charset is not None or meta.iptc_has_non_ascii
    ):
        return "the IPTC-IIM block uses another character set than UTF-8"
    return None


def build_plan(outcomes: list[FieldOutcome], text: str, lang: str, meta: Metadata, *,
               human_approved: bool, xmp_only: bool = False,
               own_texts: Mapping[str, tuple[str, bool]] | None = None) -> Plan:
    """The keys to set for every field decided WRITE, plus alttext's marks. ``own_texts``: fields that
    carry a text of their own instead of ``text`` (the long description), with its human approval."""
    lang_alt: dict[str, dict[str, str]] = {}
    strings: dict[str, str] = {}
    caption = text
    for outcome in outcomes:
        if outcome.action != WRITE:
            continue
        text, approved = (own_texts or {}).get(outcome.field, (caption, human_approved))
        origin = "human" if approved else "model"
        key = FIELD_KEYS[outcome.field]
        if outcome.field in LANG_ALT_FIELDS:
            lang_alt[key] = {"x-default": text, lang: text} if lang != "x-default" else {"x-default": text}
        else:
            strings[key] = text
            if outcome.field == IPTC and not text.isascii() and meta.iptc_charset != IPTC_UTF8:
                strings[KEY_IPTC_CHARSET] = IPTC_UTF8
        if outcome.claim:
            strings[MARK_KEYS[outcome.field]] = Mark(origin, text_digest(text)).encode()
        if outcome.field == EXIF and meta.image_type == "jpeg" and not any(k.startswith("Exif.") for k in meta.values):
            # A new EXIF block in a JPEG needs these IFD0 tags to be valid (exiftool adds the same).
            strings.update(JPEG_IFD0_DEFAULTS)
    if lang_alt or strings:
        strings[KEY_TOOL] = f"alttext {__version__}"
    if xmp_only:
        strings = {k: v for k, v in strings.items() if k.startswith("Xmp.")}
    return Plan(lang_alt=lang_alt, strings=strings)
