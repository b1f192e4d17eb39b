"""The rules of alttext.text_safety (issue 13, items 8 and 9): what is removed from kept text, how printed
text is escaped (losslessly), and JSON that is inert in a terminal."""

from __future__ import annotations

import json
import re

import pytest

from alttext.text_safety import clean_text, escape_line, has_controls, to_json

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def controls(output: str) -> list[str]:
    return CONTROL.findall(output)


@pytest.mark.parametrize(("hostile", "cleaned"), [
    ("title\x1b]0;pwned\x07 kept", "title kept"),  # OSC ended by BEL
    ("link\x1b]8;;http://x\x1b\\ here", "link here"),  # OSC ended by ST
    ("\x1b[2J\x1b[31mred\x1b[0m", "red"),  # CSI
    ("nul\x00l", "null"),
    ("c1\x9b2Jx", "c1x"),  # C1 CSI
    ("c1 osc\x9d0;t\x9c!", "c1 osc!"),  # C1 OSC ... C1 ST
    ("two\nlines\tand\r\u2028more", "two lines and  more"),  # one line: breaks become spaces
    ("\u202eright-to-left override\u202c and \u2067isolate\u2069", "\u202eright-to-left override\u202c and"
                                                                   " \u2067isolate\u2069"),  # Cf, kept
])
def test_clean_text(hostile: str, cleaned: str) -> None:
    assert clean_text(hostile) == cleaned
    assert not has_controls(clean_text(hostile))


def test_escape_line_is_visible_and_lossless() -> None:
    assert escape_line("plain text, café 🐕") == "plain text, café 🐕"
    assert escape_line("a\tb\nc\\d\re") == "a\\tb\\nc\\\\d\\re"
    assert escape_line("\x1b]0;t\x07") == "\\x1b]0;t\\x07"
    assert escape_line("\x9b\u2028") == "\\u009b\\u2028"  # a code point: \u, never confused with a byte
    assert escape_line("caf\udce9") == "caf\\xe9"  # a name's byte that isn't UTF-8: \x
    assert not controls(escape_line("".join(map(chr, range(0xA0)))))


def test_json_text_is_inert_in_a_terminal() -> None:
    dumped = to_json({"alt_text": "\x1b]0;t\x07 \x9b2J \u2028", "path": "caf\udce9"})
    assert not controls(dumped) and "\u2028" not in dumped
    assert json.loads(dumped) == {"alt_text": "\x1b]0;t\x07 \x9b2J \u2028", "path": "caf\ufffd",
                                  "path_bytes_b64": "Y2Fm6Q=="}
