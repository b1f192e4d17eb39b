"""Terminal escape injection (issue 13, item 9): a caption holding ESC/BEL/C1 (typed into ``edit``, read
from an untrusted photo's metadata, or already in an index) never reaches a terminal or an export as a
control character. Text is cleaned on the way in (edit, metadata import), and everything printed or
exported goes through alttext.text_safety, so rows written before the fix are harmless too.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image
from planted import plant
from sqlalchemy import text

from alttext.index.db import Index
from alttext.metadata.reading import ExistingText, TextSet

# A window title (OSC ... BEL), concealed text (CSI 8m), NUL, C1 CSI (erase screen), OSC ... ST.
HOSTILE = "A red kite\x1b]0;pwned\x07 over a \x1b[8mhidden\x1b[0m green\x00 hill\x9b2J\x1b]8;;http://x\x1b\\."
CLEAN = "A red kite over a hidden green hill."
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


OUR_STYLES = ("\x1b[1m", "\x1b[22m", "\x1b[0m")  # bold (search's matches, review's file name) and reset


def controls(output: str, *, allowed: str = "\n") -> list[str]:
    return [char for char in CONTROL.findall(output) if char not in allowed]


def without_our_styles(output: str) -> str:
    for style in OUR_STYLES:
        output = output.replace(style, "")
    return output


@pytest.fixture
def photo(index: Index, tmp_path: Path) -> Path:
    plant(index, tmp_path / "site" / "photos", {"a.png": "A red kite over a green hill."})
    return tmp_path / "site" / "photos" / "a.png"


@pytest.fixture
def legacy_row(index: Index, photo: Path) -> Path:
    """A caption that holds escapes, as an index written before the fix (or by another tool) may."""
    with index.write() as connection:
        connection.execute(text("UPDATE captions SET text = :hostile"), {"hostile": HOSTILE})
    return photo


def test_edit_cleans_control_characters_and_says_so(photo: Path, invoke) -> None:
    result = invoke("edit", str(photo), HOSTILE)
    assert result.exit_code == 0, result.output
    assert "control characters" in result.stderr and not controls(result.output)
    assert json.loads(invoke("show", str(photo), "--json").stdout)["alt_text"] == CLEAN


def test_show_search_and_review_never_print_control_characters(legacy_row: Path, invoke) -> None:
    shown = invoke("show", str(legacy_row))
    assert "\\x1b]0;pwned\\x07" in shown.stdout  # visible, so a person sees the caption is odd
    assert not controls(shown.output), shown.output
    found = invoke("search", "kite")
    ours = found.stdout.replace("\x1b[1m", "").replace("\x1b[22m", "")  # search's own bold for matches
    assert "kite" in ours and not controls(ours) and not controls(found.stderr), found.output
    reviewed = invoke("review", input="s\n")
    assert "pwned" in reviewed.output and not controls(without_our_styles(reviewed.output)), reviewed.output


def test_exports_and_alt_attributes_hold_no_control_characters(legacy_row: Path, tmp_path: Path, invoke) -> None:
    for fmt in ("csv", "md", "html"):
        exported = invoke("export", "--format", fmt).stdout
        assert "A red kite" in exported and not controls(exported, allowed="\r\n"), (fmt, exported)
    [row] = list(csv.DictReader(io.StringIO(invoke("export", "--format", "csv").stdout)))
    assert row["alt_text"] == "A red kite over a hidden green hill."
    for fmt in ("json", "jsonl"):
        exported = invoke("export", "--format", fmt).stdout
        assert not controls(exported)
        assert CLEAN in exported
    page = tmp_path / "site" / "index.html"
    page.write_text('<p><img src="photos/a.png"></p>\n', encoding="utf-8")
    assert invoke("apply-html", str(tmp_path / "site")).exit_code == 0
    assert page.read_text(encoding="utf-8") == f'<p><img alt="{CLEAN}" src="photos/a.png"></p>\n'


def test_metadata_text_is_cleaned_on_the_way_in(tmp_path: Path, invoke) -> None:
    described = TextSet("file", "x.jpg", alt_text={"x-default": HOSTILE}, image_description="\x1b]0;t\x07\x00")
    candidates = ExistingText("x.jpg", file=described).candidates()
    assert [candidate.text for candidate in candidates] == [CLEAN]  # the EXIF one is nothing once cleaned

    photos = tmp_path / "photos"
    photos.mkdir()
    exif = Image.Exif()
    exif[0x010E] = "A cat\x1b]0;pwned\x07 asleep on a \x1b[31mred\x1b[0m sofa"  # EXIF ImageDescription
    Image.new("RGB", (32, 32), (200, 40, 40)).save(photos / "cat.jpg", exif=exif)
    assert invoke("scan", str(photos)).exit_code == 0  # imported from metadata: no model
    shown = json.loads(invoke("show", str(photos / "cat.jpg"), "--json").stdout)
    assert shown["source"] == "metadata" and shown["alt_text"] == "A cat asleep on a red sofa."
