"""Reading the descriptions a photo already carries, to import them as captions (source "metadata"): the alt
text (from the first of AltTextAccessibility, dc:description, EXIF ImageDescription, IPTC Caption-Abstract)
and, apart from it, the long description (ExtDescrAccessibility), which never becomes alt text."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from alttext.metadata import container, exiv2io
from alttext.metadata.atomic import SafetyError, take_snapshot
from alttext.metadata.boilerplate import is_boilerplate
from alttext.metadata.exiv2io import Metadata, MetadataError
from alttext.metadata.fields import (
    ALT,
    DESCRIPTION,
    EXIF,
    EXTDESCR,
    FIELD_KEYS,
    IPTC,
    Mark,
    check_lang,
    lang_matches,
)
from alttext.metadata.formats import SIDECAR_ONLY, classify, existing_sidecars
from alttext.metadata.pixels import pillow_format
from alttext.text_safety import clean_text

FIELD_PRIORITY = (ALT, DESCRIPTION, EXIF, IPTC)


@dataclass(frozen=True)
class TextSet:
    """The description fields of one container: the image file itself or one sidecar."""

    origin: str  # "file" or "sidecar"
    path: str
    alt_text: dict[str, str] = field(default_factory=dict)  # language ("x-default", "en", ...) -> text
    description: dict[str, str] = field(default_factory=dict)  # dc:description, same shape
    extdescr: dict[str, str] = field(default_factory=dict)  # Iptc4xmpCore:ExtDescrAccessibility, same shape
    image_description: str | None = None  # EXIF IFD0 ImageDescription
    caption_abstract: str | None = None  # IPTC-IIM 2:120
    marks: dict[str, Mark] = field(default_factory=dict)  # alttext's records of its own writes
    make: str | None = None
    model: str | None = None

    @classmethod
    def from_metadata(cls, origin: str, path: str, meta: Metadata) -> TextSet:
        return cls(
            origin=origin,
            path=path,
            alt_text=dict(meta.lang_alts.get(FIELD_KEYS[ALT], {})),
            description=dict(meta.lang_alts.get(FIELD_KEYS[DESCRIPTION], {})),
            extdescr=dict(meta.lang_alts.get(FIELD_KEYS[EXTDESCR], {})),
            image_description=meta.image_description,
            caption_abstract=meta.caption_abstract,
            marks=dict(meta.marks),
            make=meta.make,
            model=meta.model,
        )

    def written_by(self, name: str, text: str) -> str | None:
        """"model"/"human" when alttext wrote exactly this value of field ``name``, else None."""
        mark = self.marks.get(name)
        return mark.origin if mark is not None and mark.matches(text) else None


@dataclass(frozen=True)
class Candidate:
    """One existing, meaningful text that could become the photo's caption."""

    text: str
    field: str  # "alt", "description", "exif" or "iptc"
    lang: str | None  # for Lang Alt fields
    origin: str  # "file" or "sidecar"
    path: str  # the file it was read from
    written_by_alttext: str | None = None  # "model" or "human" when alttext wrote it itself


@dataclass(frozen=True)
class ExistingText:
    """Everything :func:`read_descriptions` found for one photo. ``errors`` never stops a batch."""

    path: str
    file: TextSet | None = None
    sidecars: tuple[TextSet, ...] = ()
    errors: tuple[str, ...] = ()
    prefer_sidecar: bool = False  # RAW and other sidecar-only formats: the sidecar is authoritative

    def sources(self) -> list[TextSet]:
        found = ([self.file] if self.file else []) + list(self.sidecars)
        return list(reversed(found)) if self.prefer_sidecar else found

    def candidates(self, lang: str = "en", fields: tuple[str, ...] = FIELD_PRIORITY) -> list[Candidate]:
        """Every meaningful text, best first: field (alt text, dc:description, EXIF, IPTC; or ``fields``),
        then language (``lang``, its base language, x-default, others), then container."""
        lang = check_lang(lang)
        out: list[Candidate] = []
        for name in fields:
            for source in self.sources():
                for text, text_lang in _values(source, name, lang):
                    # Someone else's photo may carry escape sequences: they never enter the index.
                    cleaned = clean_text(text).strip()
                    if not cleaned or is_boilerplate(cleaned, make=source.make, model=source.model):
                        continue
                    out.append(Candidate(cleaned, name, text_lang, source.origin, source.path,
                                         source.written_by(name, text)))
        return out

    def best_caption(self, lang: str = "en", *, include_alttext: bool = False) -> Candidate | None:
        return pick_caption(self, lang, include_alttext=include_alttext)

    def best_description(self, lang: str = "en", *, include_alttext: bool = False) -> Candidate | None:
        return pick_description(self, lang, include_alttext=include_alttext)


def _lang_rank(entry: str, lang: str) -> int:
    if lang_matches(entry, lang):
        return 0
    if entry != "x-default" and lang_matches(entry.split("-")[0], lang.split("-")[0]):
        return 1
    return 2 if entry == "x-default" else 3


def _values(source: TextSet, name: str, lang: str) -> list[tuple[str, str | None]]:
    if name in (ALT, DESCRIPTION, EXTDESCR):
        entries = {ALT: source.alt_text, DESCRIPTION: source.description, EXTDESCR: source.extdescr}[name]
        ordered = sorted(entries.items(), key=lambda item: _lang_rank(item[0], lang))
        return [(text, entry) for entry, text in ordered]
    value = source.image_description if name == EXIF else source.caption_abstract
    return [(value, None)] if value else []


def pick_caption(existing: ExistingText, lang: str = "en", *, include_alttext: bool = False) -> Candidate | None:
    """The text to import as the photo's caption, or None.

    Camera boilerplate ("OLYMPUS DIGITAL CAMERA", "SONY DSC", file names, Make/Model) is ignored, and
    so are model captions alttext embedded itself (importing them would pass them off as a person's);
    human-approved captions alttext embedded are kept. ``include_alttext`` keeps the model ones too.
    """
    for candidate in existing.candidates(lang):
        if candidate.written_by_alttext == "model" and not include_alttext:
            continue
        return candidate
    return None


def pick_description(existing: ExistingText, lang: str = "en", *, include_alttext: bool = False) -> Candidate | None:
    """The long description (ExtDescrAccessibility) to import beside the caption, or None: chosen as
    :func:`pick_caption` chooses the alt text (language, container; a model description alttext embedded
    itself is skipped unless ``include_alttext``)."""
    for candidate in existing.candidates(lang, (EXTDESCR,)):
        if candidate.written_by_alttext == "model" and not include_alttext:
            continue
        return candidate
    return None


@dataclass(frozen=True)
class FoundText:
    """What ingest imports from a photo's own metadata: a person's alt text and long description (each
    None when the file has none, or only boilerplate, or only alttext's own model text)."""

    alt_text: str | None = None
    description: str | None = None


def read_descriptions(path: str | os.PathLike[str]) -> ExistingText:
    """Read alt text, dc:description, EXIF ImageDescription, IPTC Caption-Abstract and the long description
    (ExtDescrAccessibility) from a photo and from its XMP sidecars (``IMG.ext.xmp`` and ``IMG.xmp``). Never
    raises for a problem with the file."""
    given = os.fspath(path)
    real = os.path.realpath(given)
    errors: list[str] = []
    file_set = None
    prefer_sidecar = False
    try:
        snap = take_snapshot(real)
        if not snap.exists:
            return ExistingText(given, errors=("no such file",))
        image_type = _type(snap.data)
        fmt = classify(real, image_type, snap.data[:16],
                       None if image_type != "none" else pillow_format(snap.data))
        prefer_sidecar = fmt.kind == SIDECAR_ONLY
        if image_type != "none":
            file_set = TextSet.from_metadata("file", real, container.read(snap.data, image_type).meta)
        elif fmt.kind != SIDECAR_ONLY:
            errors.append("not an image (unknown file format)")
    except (SafetyError, MetadataError) as exc:
        errors.append(f"{os.path.basename(real)}: {exc}")
    sidecars = []
    for sidecar in existing_sidecars(real):
        try:
            side = take_snapshot(sidecar)
            if side.exists:
                sidecars.append(TextSet.from_metadata("sidecar", sidecar, exiv2io.read(side.data)))
        except (SafetyError, MetadataError) as exc:
            errors.append(f"{os.path.basename(sidecar)}: {exc}")
    return ExistingText(given, file_set, tuple(sidecars), tuple(errors), prefer_sidecar)


def _type(data: bytes) -> str:
    try:
        return exiv2io.image_type(data)
    except MetadataError:
        return "none"
