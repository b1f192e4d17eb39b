"""Defensive parsing of the model's reply into clean, distinct, length-limited variants.

Models ignore "no numbering, no chatter" often enough that every rule here comes from a real reply
shape: numbered or bulleted lists, quoted lines, markdown, "Sure! Here are 3 captions:" preambles,
"Let me know if…" outros, JSON arrays, all items on one line, a reply cut off by the token limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from .prompt import MAX_VARIANT_CHARS

_FENCE = re.compile(r"^\s*```")
# "1." "1)" "(1)" "1:" "1]" "#1" "1 -" — but not "3.5 million stars".
_NUMBER = re.compile(r"^(?:\(\d{1,2}\)|#?\d{1,2}(?:[.):\]](?!\d)|\s+[-–—](?=\s)))\s*")
_BULLET = re.compile(r"^[-*•·‣▪◦–—+]\s+")
_LABEL = re.compile(r"^(?:caption|variant|option|version|alternative)\s*#?\d*\s*[:.)\-–—]\s*", re.I)
_HEADING = re.compile(r"^(?:#{1,6}\s+|>\s*)")
_INLINE_LIST = re.compile(r"\s+(?=(?:[2-9]|1\d)[.)]\s)")
_CHATTER = re.compile(
    r"""^(?:
        (?:sure|certainly|of\ course|absolutely|okay|ok|alright|great|got\ it)\s*[!,.:]
      | here(?:'s|’s|\ is|\ are)\b.*\b(?:captions?|variants?|options?|versions?|alternatives?|ideas?|takes?)\b
      | (?:i\ hope|hope\ (?:these|this|you|that)|let\ me\ know|feel\ free|if\ you\ (?:need|want|would|'d|like)
         |would\ you\ like|do\ you\ want|note:|these\ (?:captions|variants|options)|as\ an\ ai)
      | (?:i'?m\ sorry|i’m\ sorry|i\ am\ sorry|sorry,|i\ can(?:not|'t|’t)|i\ am\ unable|i'?m\ unable|i\ won'?t)
    )""",
    re.I | re.X,
)
_HASHTAGS_ONLY = re.compile(r"^(?:#\w+\s*)+$")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s|$)")
_QUOTE_PAIRS = {'"': '"', "“": "”", "„": "“", "”": "”", "«": "»", "»": "«", "‘": "’", "'": "'", "`": "`"}
_DOUBLE_QUOTES = '"“”„«»'


def _dedupe_key(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def _strip_quotes(text: str) -> str:
    while len(text) >= 2:
        close = _QUOTE_PAIRS.get(text[0])
        if close is None:
            break
        if text.endswith(close):
            text = text[1:-1].strip()
            continue
        # "Sunset vibes". — closing quote before the final punctuation
        match = re.match(rf"^.(.*){re.escape(close)}([.!?…]+)$", text, re.S)
        if match:
            text = (match[1] + match[2]).strip()
            continue
        if text[0] in _DOUBLE_QUOTES and not any(q in text[1:] for q in _DOUBLE_QUOTES):
            text = text[1:].strip()  # a lone opening quote
            continue
        break
    if text and text[-1] in _DOUBLE_QUOTES and not any(q in text[:-1] for q in _DOUBLE_QUOTES):
        text = text[:-1].strip()  # a lone closing quote
    return text


def _strip_markdown(text: str) -> str:
    text = _HEADING.sub("", text)
    text = text.replace("**", "").replace("__", "")
    if len(text) > 2 and text[0] == text[-1] and text[0] in "*_":
        text = text[1:-1]
    return text.strip()


def _json_items(text: str) -> list[str] | None:
    """A reply that is a JSON array of strings (or an object holding one)."""
    if not text.startswith(("[", "{")):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), None)
    if isinstance(data, list) and all(isinstance(item, str) for item in data):
        return data
    return None


def _candidate_lines(reply: str) -> list[str]:
    lines = [line for line in reply.splitlines() if not _FENCE.match(line)]
    body = "\n".join(lines).strip()
    items = _json_items(body)
    if items is not None:
        return items
    out: list[str] = []
    for line in lines:
        line = line.strip()
        # "1. foo 2. bar 3. baz" on one line
        if re.match(r"^\(?1[.)]\s", line) and re.search(r"\s2[.)]\s", line):
            out.extend(_INLINE_LIST.split(line))
        else:
            out.append(line)
    return out


def clean_line(line: str) -> str | None:
    """One candidate line without list markers, labels, markdown and quotes; None for chatter."""
    text = " ".join(line.split())
    text = _strip_markdown(text)
    for _ in range(3):  # markers can stack: "- 1. **Caption 1:** "…""
        before = text
        text = _BULLET.sub("", text)
        text = _NUMBER.sub("", text)
        text = _strip_markdown(text)
        text = _LABEL.sub("", text)
        text = _strip_quotes(text)
        if text == before:
            break
    if not text or _CHATTER.match(text) or _HASHTAGS_ONLY.match(text):
        return None
    if text.endswith(":") or (text.startswith("(") and text.endswith(")")):
        return None  # a heading ("Catchy captions:") or an aside ("(Note: …)")
    if sum(ch.isalpha() for ch in text) < 2:
        return None  # separators, stray numbers, emoji-only lines
    return text


def shorten(text: str, max_chars: int = MAX_VARIANT_CHARS) -> str:
    """Cut ``text`` to ``max_chars``: at the last sentence end that keeps at least a third of the
    room, else at a word boundary with an ellipsis."""
    if len(text) <= max_chars:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text) if m.end() <= max_chars]
    ends = [end for end in ends if end >= max_chars // 3]
    if ends:
        return text[: ends[-1]].strip()
    cut = text[: max_chars - 1]  # room for "…"
    space = cut.rfind(" ")
    if space >= max_chars // 3:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + "…"


def parse_variants(
    reply: str | None,
    n: int,
    *,
    max_chars: int = MAX_VARIANT_CHARS,
    exclude: Iterable[str] = (),
    truncated: bool = False,
) -> list[str]:
    """Up to ``n`` clean variants from a model reply, in the model's order.

    ``exclude``: texts that do not count as new (the source caption, variants already collected),
    compared ignoring case and punctuation. ``truncated``: the reply hit the token limit, so its last
    line is probably cut mid-sentence and is dropped.
    """
    if not isinstance(reply, str) or n <= 0:
        return []
    lines = [line for line in _candidate_lines(reply) if line.strip()]
    if truncated and lines:
        lines = lines[:-1]
    seen = {_dedupe_key(text) for text in exclude}
    out: list[str] = []
    for line in lines:
        text = clean_line(line)
        if text is None:
            continue
        text = shorten(text, max_chars)
        key = _dedupe_key(text)
        if not key or key in seen:
            continue
        seen.add(key)
        out.append(text)
        if len(out) == n:
            break
    return out
