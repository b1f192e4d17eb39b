"""Untrusted text made harmless on its way to a terminal, a one-line record, a JSON document or an export.

Captions come from people, models, chat servers and other people's photos; file names come from
anywhere. Three rules, one per kind of output:

- :func:`clean_text` for text we *keep* (alt text typed by a person, imported from metadata, written by a
  model) and for exports: terminal escape sequences (ESC [ ... CSI, ESC ] ... OSC titles, their C1
  forms) are removed whole, line breaks and tabs become spaces (alt text is one line), every other C0/C1
  control character (Unicode category Cc) is dropped.
- :func:`escape_line` for text we *print* as one line (paths, captions, messages): nothing is dropped,
  every control character is shown as a visible escape, so ``\\x1b]0;title\\x07`` reads as text and a
  name with a newline stays on its line. It is lossless: ``\\\\``, ``\\t``, ``\\n``, ``\\r``; ``\\xNN`` is
  always the byte NN (a C0 control or DEL, or a byte of a file name that is not UTF-8); ``\\uNNNN`` is
  always the code point (C1 controls, U+2028/U+2029).
- :func:`json_ready` and :func:`to_json` for JSON: every string valid UTF-8; a file name that isn't
  keeps its exact bytes in a ``FIELD_bytes_b64`` sibling.

Bidirectional formatting characters (U+202A-U+202E, U+2066-U+2069, category Cf, not Cc) are kept: they
are legitimate in right-to-left alt text, a terminal doesn't execute them, and each record (a table cell,
an attribute, a line) ends their effect.
"""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any

from alttext.paths import display_path

# ECMA-48 sequences, 7-bit and 8-bit forms: CSI (colours, cursor moves, erasing), then the string
# commands OSC/DCS/SOS/PM/APC (window titles, hyperlinks, clipboard) up to BEL or ST (or the end), then
# the short ESC sequences (ESC 7, ESC ( B, ESC c ...).
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
# Characters that end a line or a cell somewhere: become a space in kept text.
_BREAKS = re.compile(r"[\t\n\x0b\x0c\r\x1c-\x1f\x85\u2028\u2029]")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What escape_line makes visible: the backslash itself, controls, line separators, lone surrogates.
_TO_ESCAPE = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
# What JSON leaves raw with ensure_ascii=False but a terminal may still execute (DEL, UTF-8 encoded C1).
_JSON_RAW_CONTROLS = re.compile(r"[\x7f-\x9f\u2028\u2029]")


def has_controls(text: str) -> bool:
    """``text`` holds a control character other than the line breaks and tabs that one-line text turns
    into spaces anyway: something :func:`clean_text` removes, worth telling the person who typed it."""
    return _CONTROLS.search(_BREAKS.sub(" ", text)) is not None


def clean_text(text: str) -> str:
    """Text fit to keep and publish: no escape sequences, no control characters, one line."""
    if _CONTROLS.search(text) is None and _BREAKS.search(text) is None:
        return text
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = _BREAKS.sub(" ", text)
    return _CONTROLS.sub("", text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # a file-name byte that is not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def escape_line(text: str) -> str:
    """``text`` as one visible, valid-UTF-8 line: controls, backslashes and undecodable name bytes escaped
    (see the module's docstring); plain text comes back unchanged."""
    return _TO_ESCAPE.sub(_escape, text)


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _b64(text: str) -> str:
    try:
        raw = os.fsencode(text)
    except UnicodeEncodeError:  # a lone surrogate that no file-system byte produced
        raw = text.encode("utf-8", "surrogatepass")
    return base64.b64encode(raw).decode("ascii")


def json_ready(value: Any) -> Any:
    """``value`` (dicts, lists, strings, numbers) with every string valid UTF-8, so it can be printed as
    JSON. A string field FIELD that isn't (a file name with bytes that aren't UTF-8) shows U+FFFD for
    those bytes, and its object gains ``FIELD_bytes_b64``: the name's exact bytes in base64. For a list
    of strings, ``FIELD_bytes_b64`` is a list of the same length, null where the entry is valid UTF-8."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            out[key] = json_ready(item)
            if isinstance(item, str) and not is_utf8(item):
                out[f"{key}_bytes_b64"] = _b64(item)
            elif isinstance(item, list | tuple) and any(isinstance(e, str) and not is_utf8(e) for e in item):
                out[f"{key}_bytes_b64"] = [_b64(e) if isinstance(e, str) and not is_utf8(e) else None for e in item]
        return out
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, str):
        return value if is_utf8(value) else display_path(value)
    return value


def to_json(value: Any, *, indent: int | None = None) -> str:
    """JSON text that parses anywhere and is inert in a terminal: :func:`json_ready`, then the few
    characters ``json.dumps`` leaves raw (DEL, C1 controls, U+2028/U+2029) as ``\\uNNNN``."""
    text = json.dumps(json_ready(value), ensure_ascii=False, indent=indent)
    return _JSON_RAW_CONTROLS.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
