"""Turning a model's raw caption into alt text a screen-reader user wants (docs/architecture.md §5).

Short, factual, one sentence: no "an image of" lead-in (the screen reader already says "image"),
no stutter, capitalised, ending with a period, within IPTC's suggested 250 characters.
"""

from __future__ import annotations

import re

from alttext.text_safety import clean_text

MAX_ALT_LENGTH = 250  # IPTC's suggested maximum for Alt Text (Accessibility)
TARGET_ALT_LENGTH = 125  # common screen-reader guidance; lint warns above it

_LEAD_IN = re.compile(
    r"^(?:(?:there\s+is|this\s+is|here\s+is|it\s+is)\s+)?"
    r"(?:(?:an?|the)\s+)?(?:close[\s-]?up\s+)?(?:(?:black\s+and\s+white|color|colour|blurry)\s+)?"
    r"(?:image|picture|photo|photograph|pic|illustration|painting|drawing|snapshot|screenshot)\s+"
    r"(?:of|showing|shows|with|depicting)\s+",
    re.IGNORECASE,
)
_ARTEFACTS = re.compile(r"<\|?[a-z_]+\|?>|\[(?:CLS|SEP|PAD|UNK)\]", re.IGNORECASE)


def _collapse_repeats(words: list[str], max_span: int = 6) -> list[str]:
    """Drop immediately repeated word runs: 'a a dog' -> 'a dog', 'on the beach on the beach' -> once."""
    changed = True
    while changed:
        changed = False
        for span in range(max_span, 0, -1):
            i = 0
            while i + 2 * span <= len(words):
                first = [w.lower().strip(",.;") for w in words[i : i + span]]
                second = [w.lower().strip(",.;") for w in words[i + span : i + 2 * span]]
                if first == second:
                    del words[i + span : i + 2 * span]
                    changed = True
                else:
                    i += 1
    return words


def _shorten(text: str, limit: int) -> str:
    """Cut at the last sentence end, else the last word boundary, that fits."""
    if len(text) <= limit:
        return text
    window = text[: limit - 1]
    sentence_end = max(window.rfind(". "), window.rfind("! "), window.rfind("? "))
    if sentence_end >= limit // 2:
        return window[: sentence_end + 1]
    space = window.rfind(" ")
    cut = window[:space] if space > 0 else window
    return cut.rstrip(" ,;:-")


def to_alt_text(raw_caption: str, max_length: int = MAX_ALT_LENGTH) -> str:
    """Post-process a raw model caption into alt text; returns "" when nothing useful is left."""
    text = _ARTEFACTS.sub(" ", clean_text(raw_caption))  # a chat model or a photo's metadata may hold escapes
    text = " ".join(text.split())
    text = text.strip(" \"'`")
    previous = None
    while previous != text:  # "a picture of an image of ..." loses both lead-ins
        previous = text
        text = _LEAD_IN.sub("", text, count=1)
    words = _collapse_repeats(text.split())
    text = " ".join(words).strip(" ,;:-")
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    text = _shorten(text, max_length - 1)  # room for the final period
    if text[-1] not in ".!?":
        text += "."
    return text
