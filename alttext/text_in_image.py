"""Text read in a picture, and when it belongs in the alt text (docs/architecture.md §15).

The text a model or an OCR engine read is stored apart from the alt text (``captions.image_text``) and
searched. It is folded into the alt text only when the picture is *mostly text*: a sign, a slide, a
screenshot, a page, where the words are what a sighted reader takes from it. Measured, not guessed:

- the model's own hint: its alt text names a thing made to carry text ("a red sign on a pole", "a
  screenshot of a settings page"), and the reader found at least one word; or
- the amount: at least ``MANY_WORDS`` words were read (a page, a slide full of bullet points), whatever
  the alt text says.

A photo of a street with a shop name in a corner is neither, and keeps its alt text as it is. Folding never
repeats text the alt text already quotes, and stays within the alt-text length rule (never over 250
characters: the text is cut at a word boundary). Only model alt text is folded; a person's text is never
touched (human text wins, §3).
"""

from __future__ import annotations

import re

from alttext.alt_text import MAX_ALT_LENGTH

# Things made to carry text: when the alt text names one and there is text, the text is the point.
TEXT_BEARERS = frozenset({
    "sign", "signs", "signpost", "signboard", "placard", "plaque", "banner", "billboard", "poster", "notice",
    "label", "text", "slide", "screenshot", "screen", "document", "page", "menu", "receipt", "letter", "note",
    "whiteboard", "blackboard", "chalkboard", "newspaper", "headline", "certificate", "ticket", "webpage",
    "website", "presentation", "handwriting", "writing", "quote", "words", "title", "caption", "book", "cover",
})
MANY_WORDS = 12  # read words from which a picture is mostly text whatever the model called it
MIN_QUOTED = 12  # characters of text worth folding in; with less room left the alt text stays as it is

_WORD = re.compile(r"\w+", re.UNICODE)


def _words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


def is_mostly_text(alt_text: str, image_text: str | None) -> bool:
    """Whether the picture is mostly text, by the rules in this module's docstring."""
    read = _words(image_text or "")
    if not read:
        return False
    if len(read) >= MANY_WORDS:
        return True
    return any(word in TEXT_BEARERS for word in _words(alt_text))


def _already_said(alt_text: str, image_text: str) -> bool:
    """The alt text already holds the read words, in order (a chat model asked to say visible text does)."""
    said, read = " ".join(_words(alt_text)), " ".join(_words(image_text))
    return bool(read) and f" {read} " in f" {said} "


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "…"


def fold_image_text(alt_text: str, image_text: str | None, *, max_length: int = MAX_ALT_LENGTH) -> str:
    """The alt text, with the picture's text quoted at its end when the picture is mostly text:
    "A red sign on a pole, reading "NO PARKING"." Unchanged otherwise."""
    if not image_text or not is_mostly_text(alt_text, image_text) or _already_said(alt_text, image_text):
        return alt_text
    base = alt_text.rstrip().rstrip(".")
    frame = f'{base}, reading "".'
    room = max_length - len(frame)
    if room < MIN_QUOTED:
        return alt_text
    quoted = _cut(" ".join(image_text.replace('"', "'").split()), room)
    return f'{base}, reading "{quoted}".'
