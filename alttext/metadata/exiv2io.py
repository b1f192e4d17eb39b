"""Reading and writing metadata with python-exiv2, entirely in memory.

Every function whose name does not start with ``_`` is a public entry point that hops onto the exiv2
thread (see :mod:`alttext.metadata.exiv2_thread`); the ``_``-functions run on it. exiv2 only ever sees bytes
(``ImageFactory.open(data)``) and hands back bytes: alttext does all file I/O itself, so temp files,
permissions, fsync and atomic replacement stay under its control.

Never test membership with ``key in exifData``: for an unknown tag name libexiv2 throws a C++
exception that aborts the whole process. Iterate the datums instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alttext.metadata import exiv2_thread
from alttext.metadata.fields import (
    FIELD_KEYS,
    KEY_CAPTION_ABSTRACT,
    KEY_IMAGE_DESCRIPTION,
    KEY_IPTC_CHARSET,
    KEY_MAKE,
    KEY_MODEL,
    LANG_ALT_FIELDS,
    MARK_KEYS,
    Mark,
    lang_matches,
)


class MetadataError(Exception):
    """exiv2 could not read or write a file; the message is one line for the user."""


@dataclass(frozen=True)
class Metadata:
    """What one container (an image file or an XMP sidecar) holds, as plain Python data."""

    image_type: str  # exiv2's name: "jpeg", "png", "webp", "tiff", "bmff", "xmp", "cr2", ...
    # Every Exif/IPTC/XMP key with its values in file order (IPTC keys can repeat).
    values: dict[str, tuple[str, ...]]
    lang_alts: dict[str, dict[str, str]]  # for the Lang Alt fields we manage: key -> {lang: text}
    image_description: str | None
    caption_abstract: str | None
    iptc_charset: str | None
    make: str | None
    model: str | None
    marks: dict[str, Mark] = field(default_factory=dict)  # field name -> alttext's mark

    @property
    def has_iptc(self) -> bool:
        return any(k.startswith("Iptc.") for k in self.values)

    @property
    def iptc_has_non_ascii(self) -> bool:
        return any(not v.isascii() for k, vs in self.values.items() if k.startswith("Iptc.") for v in vs)

    def text(self, name: str) -> dict[str, str] | str | None:
        """The current value of one managed field (a {lang: text} dict for Lang Alt fields)."""
        if name in LANG_ALT_FIELDS:
            return self.lang_alts.get(FIELD_KEYS[name], {})
        return self.image_description if FIELD_KEYS[name] == KEY_IMAGE_DESCRIPTION else self.caption_abstract


@dataclass(frozen=True)
class Plan:
    """Changes to make: Lang Alt entries to set (other languages are kept) and plain values to set."""

    lang_alt: dict[str, dict[str, str]] = field(default_factory=dict)
    strings: dict[str, str] = field(default_factory=dict)

    def all_keys(self) -> set[str]:
        return set(self.lang_alt) | set(self.strings)


def describe_error(exc: BaseException) -> str:
    """One line for an exiv2 exception."""
    import exiv2

    if isinstance(exc, exiv2.Exiv2Error):
        code = getattr(exc, "code", None)
        message = exc.args[1] if len(exc.args) > 1 else str(exc)
        name = getattr(code, "name", "")
        if name == "kerTooLargeJpegSegment":
            return "metadata too large for a JPEG APP1 segment (64 KB); extended XMP is not supported"
        if name in ("kerMemoryContainsUnknownImageType", "kerFileContainsUnknownImageType"):
            return "not an image (unknown file format)"
        if name == "kerWritingImageFormatUnsupported":
            return f"exiv2 cannot write this format: {message}"
        return f"exiv2: {message}"
    return f"{type(exc).__name__}: {exc}"


def _open(data: bytes | None):
    import exiv2

    if data is None:
        return exiv2.ImageFactory.create(exiv2.ImageType.xmp)  # a new, empty XMP sidecar in memory
    image = exiv2.ImageFactory.open(data)
    image.readMetadata()
    return image


def _type_name(data: bytes | None) -> str:
    import exiv2

    if data is None:
        return "xmp"
    return exiv2.ImageType(int(exiv2.ImageFactory.getType(data))).name


def _lang_alt_entries(datum) -> dict[str, str]:
    import exiv2

    value = datum.value()
    if isinstance(value, exiv2.LangAltValue):
        return {str(k): str(v) for k, v in value.items()}
    text = datum.toString()  # a malformed plain-text value where a Lang Alt belongs
    return {"x-default": text} if text else {}


def _collect(image, values: dict[str, list[str]], lang_alts: dict[str, dict[str, str]], *, exif: bool,
             iptc: bool, xmp: bool) -> None:
    managed_lang_alt = {FIELD_KEYS[f] for f in LANG_ALT_FIELDS}
    if exif:
        for datum in image.exifData():
            values.setdefault(datum.key(), []).append(datum.toString())
    if iptc:
        for datum in image.iptcData():
            values.setdefault(datum.key(), []).append(datum.toString())
    if xmp:
        for datum in image.xmpData():
            key = datum.key()
            values.setdefault(key, []).append(datum.toString())
            if key in managed_lang_alt:
                lang_alts[key] = _lang_alt_entries(datum)


def _read(data: bytes | None) -> Metadata:
    image = _open(data)
    image_type = _type_name(data)
    values: dict[str, list[str]] = {}
    lang_alts: dict[str, dict[str, str]] = {}
    # In an XMP sidecar exiv2 shows EXIF/IPTC values derived from the XMP; they are not really there.
    real = image_type != "xmp"
    _collect(image, values, lang_alts, exif=real, iptc=real, xmp=True)
    return _metadata(image_type, values, lang_alts)


def _read_parts(xmp_packet: bytes | None, exif_tiff: bytes | None, image_type: str) -> Metadata:
    """Metadata of a container exiv2 cannot parse, from its XMP packet and its EXIF (a TIFF blob) as
    another tool extracted them."""
    values: dict[str, list[str]] = {}
    lang_alts: dict[str, dict[str, str]] = {}
    if xmp_packet:
        _collect(_open(xmp_packet), values, lang_alts, exif=False, iptc=False, xmp=True)
    if exif_tiff:
        _collect(_open(exif_tiff), values, lang_alts, exif=True, iptc=False, xmp=False)
    return _metadata(image_type, values, lang_alts)


def _metadata(image_type: str, values: dict[str, list[str]], lang_alts: dict[str, dict[str, str]]) -> Metadata:

    def first(key: str) -> str | None:
        found = values.get(key)
        return found[0] if found else None

    marks = {}
    for name, key in MARK_KEYS.items():
        mark = Mark.decode(first(key))
        if mark:
            marks[name] = mark
    return Metadata(
        image_type=image_type,
        values={k: tuple(v) for k, v in values.items()},
        lang_alts=lang_alts,
        image_description=_ascii_field(first(KEY_IMAGE_DESCRIPTION)),
        caption_abstract=first(KEY_CAPTION_ABSTRACT),
        iptc_charset=first(KEY_IPTC_CHARSET),
        make=_ascii_field(first(KEY_MAKE)),
        model=_ascii_field(first(KEY_MODEL)),
        marks=marks,
    )


def _ascii_field(value: str | None) -> str | None:
    # EXIF ASCII fields are NUL-terminated and often padded with NULs or spaces.
    return value.rstrip("\x00 ") if value is not None else None


def _apply(image, plan: Plan) -> None:
    import exiv2

    xmp = image.xmpData()
    for key, entries in plan.lang_alt.items():
        merged: dict[str, str] = {}
        for datum in xmp:
            if datum.key() == key:
                merged = _lang_alt_entries(datum)
                break
        for lang, text in entries.items():
            for existing in [k for k in merged if lang_matches(k, lang)]:
                del merged[existing]
            merged[lang] = text
        # An explicit LangAltValue: assigning a str would store the literal 'lang="x-default" …'.
        ordered = {"x-default": merged.pop("x-default")} if "x-default" in merged else {}
        ordered.update(merged)
        xmp[key] = exiv2.LangAltValue(ordered)
    for key, text in plan.strings.items():
        if key.startswith("Xmp."):
            xmp[key] = exiv2.XmpTextValue(text)
        elif key == KEY_IMAGE_DESCRIPTION:
            image.exifData()[key] = exiv2.AsciiValue(text)  # UTF-8 bytes, as exiftool writes them
        elif key.startswith("Exif."):
            image.exifData()[key] = text  # exiv2 parses it as the tag's own type (Rational, Short)
        elif key.startswith("Iptc."):
            image.iptcData()[key] = exiv2.StringValue(text)
        else:
            raise ValueError(f"unknown metadata key {key}")


def _write(data: bytes | None, plan: Plan) -> bytes:
    image = _open(data)
    _apply(image, plan)
    image.writeMetadata()
    return bytes(image.io().data())


def _xmp_packet(packet: bytes | None, plan: Plan) -> str:
    import exiv2

    image = _open(packet)  # parsed as an XMP sidecar held in memory; None: start empty
    _apply(image, plan)
    status, encoded = exiv2.XmpParser.encode(image.xmpData())
    if status != 0:
        raise MetadataError(f"exiv2 could not serialise XMP (status {status})")
    return encoded


def _guarded(fn, *args):
    try:
        return fn(*args)
    except MetadataError:
        raise
    except Exception as exc:  # exiv2 raises Exiv2Error, but also ValueError/TypeError on odd data
        raise MetadataError(describe_error(exc)) from exc


def read(data: bytes | None) -> Metadata:
    """Read all metadata of an image or sidecar held in memory (``None``: an empty new sidecar)."""
    return exiv2_thread.call(_guarded, _read, data)


def write(data: bytes | None, plan: Plan) -> bytes:
    """Apply ``plan`` to the image/sidecar bytes and return the new file's bytes."""
    return exiv2_thread.call(_guarded, _write, data, plan)


def read_parts(xmp_packet: bytes | None, exif_tiff: bytes | None, image_type: str) -> Metadata:
    """Metadata from an XMP packet and an EXIF TIFF blob extracted by another tool (exiftool)."""
    return exiv2_thread.call(_guarded, _read_parts, xmp_packet, exif_tiff, image_type)


def xmp_packet(packet: bytes | None, plan: Plan) -> str:
    """An XMP packet (None: an empty one) with ``plan`` applied, for writers other than exiv2."""
    return exiv2_thread.call(_guarded, _xmp_packet, packet, plan)


def image_type(data: bytes) -> str:
    """exiv2's name for the format of ``data`` ("none" when it is not an image exiv2 knows)."""
    return exiv2_thread.call(_guarded, _type_name, data)
