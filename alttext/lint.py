"""Checking alt text the way an accessibility review would (docs/architecture.md §5).

Each rule names a mistake that screen-reader users actually meet: no alt at all, a file name or a
placeholder read out instead of a description ("IMG underscore 1234 dot jpg"), a redundant "image of"
(the reader already says "image"), text too long to listen to or too short to say anything, and one
description reused for different pictures. Errors are always wrong; warnings are worth a look.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from alttext.alt_text import MAX_ALT_LENGTH, TARGET_ALT_LENGTH

ERROR, WARNING = "error", "warning"
MIN_WORDS, MIN_CHARS = 3, 10

# Codes are stable: CI configurations and --json consumers match on them.
MISSING, FILE_NAME, PLACEHOLDER, LEAD_IN = "missing", "file-name", "placeholder", "lead-in"
TOO_LONG, LONG, TOO_SHORT, DUPLICATE = "too-long", "long", "too-short", "duplicate"

_EXTENSIONS = r"jpe?g|jpe|jfif|png|gif|webp|avif|heic|heif|tiff?|bmp|svg|ico|raw|cr2|nef|arw|dng"
_FILE_NAME = re.compile(rf"^\S+\.(?:{_EXTENSIONS})$", re.IGNORECASE)
# Camera, phone and screenshot names: IMG_1234, DSC01234, DSCN0001, PXL_20240101_123456789, 20240101_123456,
# "Screenshot 2024-01-01 at 10.00.00", WhatsApp Image 2024-...
_CAMERA_NAME = re.compile(
    r"^(?:img|dsc[nf_]?|dcim|pxl|mvimg|vid|sam|wp|gopr|dji|p|pict?|scan|screen[\s_-]?shot"
    r"|whatsapp[\s_-]image)[\s_-]*\d[\d\s_.:at-]*$|^\d{6,8}[_-]\d{4,9}$",
    re.IGNORECASE,
)
PLACEHOLDERS = frozenset({
    "image", "img", "photo", "photograph", "picture", "pic", "graphic", "untitled", "untitled image",
    "untitled design", "placeholder", "alt", "alt text", "alttext", "alternative text", "description", "todo",
    "tbd", "fixme", "spacer", "blank", "none", "null", "undefined", "nan", "default", "thumbnail", "thumb",
    "icon", "logo", "banner", "screenshot", "snapshot", "figure", "fig", "jpg", "jpeg", "png", "gif", "file",
    "upload", "attachment", "media", "main image", "hero image", "featured image", "header image",
})
# The reader announces "image" already: "image of a dog" is heard as "image, image of a dog".
_LEAD_IN = re.compile(
    r"^(?:(?:this|here|it)\s+is\s+|there\s+is\s+)?(?:(?:an?|the)\s+)?(?:close[\s-]?up\s+)?"
    r"(?:image|picture|photo|photograph|pic|graphic|illustration|screenshot|snapshot)\s+"
    r"(?:of|showing|shows|depicting)\b",
    re.IGNORECASE,
)


class LintEntry(Protocol):
    """One file with its alt text, as ``alttext.index.selection.Entry`` gives it."""

    @property
    def path(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def image_id(self) -> int | None: ...
    @property
    def alt_text(self) -> str | None: ...
    @property
    def status(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...


@dataclass(frozen=True)
class Problem:
    code: str
    level: str
    message: str

    @property
    def is_error(self) -> bool:
        return self.level == ERROR


@dataclass(frozen=True)
class Finding:
    path: str
    alt_text: str | None
    status: str | None
    problem: Problem

    def as_dict(self) -> dict[str, str | None]:
        return {"path": self.path, "level": self.problem.level, "code": self.problem.code,
                "message": self.problem.message, "alt_text": self.alt_text, "status": self.status}


def normalise(alt: str) -> str:
    """The comparison key for duplicates: case, width and spacing differences and a final period don't
    make two descriptions different."""
    folded = unicodedata.normalize("NFKC", alt).casefold()
    return " ".join(folded.split()).rstrip(" .!")


def _bare_words(alt: str) -> str:
    """'Photo 3.' -> 'photo', 'Untitled-1' -> 'untitled': placeholders with a counter are still placeholders."""
    letters = re.sub(r"[\W\d_]+", " ", alt.casefold())
    return " ".join(letters.split())


def _stem_words(file_name: str) -> str:
    return _bare_words(os.path.splitext(os.path.basename(file_name))[0])


def lint_alt(alt: str | None, *, file_name: str | None = None) -> list[Problem]:
    """Problems with one alt text (``file_name``: the image's file name, to catch alt that repeats it)."""
    if alt is None or not alt.strip():
        return [Problem(MISSING, ERROR, "no alt text")]
    text = " ".join(alt.split())
    problems: list[Problem] = []
    bare = _bare_words(text)
    stem = text.rstrip(".")
    if _FILE_NAME.match(stem) or _CAMERA_NAME.match(stem) or (file_name and bare and bare == _stem_words(file_name)
                                                              and bare not in PLACEHOLDERS and len(bare.split()) < 3):
        problems.append(Problem(FILE_NAME, ERROR, "alt text is a file name, not a description"))
    elif bare in PLACEHOLDERS or not bare:
        problems.append(Problem(PLACEHOLDER, ERROR, f"placeholder alt text {text!r} describes nothing"))
    if _LEAD_IN.match(text):
        problems.append(Problem(LEAD_IN, ERROR,
                                "starts with a lead-in like 'image of': screen readers already say 'image'"))
    if len(text) > MAX_ALT_LENGTH:
        problems.append(Problem(TOO_LONG, ERROR, f"{len(text)} characters, over the {MAX_ALT_LENGTH} maximum"))
    elif len(text) > TARGET_ALT_LENGTH:
        problems.append(Problem(LONG, WARNING, f"{len(text)} characters; aim for {TARGET_ALT_LENGTH} or fewer"))
    if not problems and (len(text.split()) < MIN_WORDS or len(text) < MIN_CHARS):
        problems.append(Problem(TOO_SHORT, WARNING, f"too short to describe the picture (under {MIN_WORDS} words"
                                                    f" or {MIN_CHARS} characters)"))
    return problems


def duplicate_keys(entries: Iterable[LintEntry]) -> dict[str, int]:
    """Alt texts (normalised) shown by more than one distinct image: key -> number of images."""
    images_by_key: dict[str, int | set[int]] = {}
    for entry in entries:
        if entry.alt_text is None or entry.image_id is None or not entry.alt_text.strip():
            continue
        key = normalise(entry.alt_text)
        seen = images_by_key.get(key)
        # Store a bare id until a second image appears: most texts are unique, so this stays small.
        if seen is None:
            images_by_key[key] = entry.image_id
        elif isinstance(seen, int):
            if seen != entry.image_id:
                images_by_key[key] = {seen, entry.image_id}
        else:
            seen.add(entry.image_id)
    return {key: len(value) for key, value in images_by_key.items() if isinstance(value, set)}


def lint_entry(entry: LintEntry, duplicates: dict[str, int]) -> list[Problem]:
    problems = lint_alt(entry.alt_text, file_name=entry.name)
    if entry.alt_text is None and entry.error:
        problems = [Problem(MISSING, ERROR, f"no alt text: the file could not be captioned ({entry.error})")]
    if entry.alt_text and entry.alt_text.strip():
        count = duplicates.get(normalise(entry.alt_text))
        if count:
            problems.append(Problem(DUPLICATE, WARNING, f"the same alt text describes {count} different images"))
    return problems


def lint_entries(entries: Iterable[LintEntry], duplicates: dict[str, int], *, errors_only: bool = False
                 ) -> Iterator[Finding]:
    """Every problem of every entry, in their order; ``duplicates`` from ``duplicate_keys`` (a first pass)."""
    for entry in entries:
        for problem in lint_entry(entry, duplicates):
            if errors_only and problem.level != ERROR:
                continue
            yield Finding(entry.path, entry.alt_text, entry.status, problem)
