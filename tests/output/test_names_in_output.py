"""Odd file names in output (issue 13, item 8): every JSON output parses as strict UTF-8 JSON, and every
name round-trips; ``caption``'s ``path<TAB>alt`` lines stay one record a line.

A name that isn't UTF-8 (``caf\\xe9.png`` from a Latin-1 camera or a zip) is shown with U+FFFD, and its
exact bytes ride along in ``FIELD_bytes_b64``. In lines, tab, newline, backslash and control characters
are escaped: ``\\xNN`` is a byte, ``\\uNNNN`` a code point (README, "Line output").
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from planted import plant

from alttext.index.db import Index

LATIN1 = os.fsdecode(b"caf\xe9.png")  # not UTF-8: the index keeps the bytes, Python holds a surrogate escape
KITE = "A red kite over a green hill."


def strict_json(data: bytes) -> Any:
    """Parse as a strict consumer would: UTF-8 without errors, JSON, and no lone surrogate in any string."""
    parsed = json.loads(data.decode("utf-8"))

    def check(value: Any) -> None:
        if isinstance(value, str):
            value.encode("utf-8")  # raises for a lone surrogate ("\udcff" escapes)
        elif isinstance(value, dict):
            for item in value.values():
                check(item)
        elif isinstance(value, list):
            for item in value:
                check(item)

    check(parsed)
    return parsed


def name_bytes(record: dict[str, Any], field: str = "path") -> bytes:
    """The exact bytes of a name from a JSON record: FIELD_bytes_b64 when present, else FIELD."""
    if f"{field}_bytes_b64" in record:
        return base64.b64decode(record[f"{field}_bytes_b64"])
    return str(record[field]).encode("utf-8")


def unescape_line_field(field: str) -> bytes:
    """The README's rule for line output, decoded: \\\\ \\t \\n \\r, \\xNN a byte, \\uNNNN a code point."""
    out, i = bytearray(), 0
    while i < len(field):
        char = field[i]
        if char != "\\":
            out += char.encode("utf-8")
            i += 1
            continue
        kind = field[i + 1]
        if kind == "x":
            out.append(int(field[i + 2:i + 4], 16))
            i += 4
        elif kind == "u":
            out += chr(int(field[i + 2:i + 6], 16)).encode("utf-8")
            i += 6
        else:
            out += {"\\": b"\\", "t": b"\t", "n": b"\n", "r": b"\r"}[kind]
            i += 2
    return bytes(out)


@pytest.fixture
def odd_library(index: Index, tmp_path: Path, invoke) -> Path:
    """An indexed photo whose name isn't UTF-8, and a copy of the same picture under another such name."""
    photos = tmp_path / "photos"
    plant(index, photos, {LATIN1: KITE})
    shutil.copy(photos / LATIN1, photos / os.fsdecode(b"copy-\xff.png"))
    assert invoke("scan", str(photos)).exit_code == 0  # the copy reuses the caption: no model
    return photos


def test_scan_json_keeps_a_failed_name_that_is_not_utf8(tmp_path: Path, invoke) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    broken = photos / os.fsdecode(b"broken-\xff.jpg")
    broken.write_bytes(b"not a JPEG")
    result = invoke("scan", str(photos), "--json")
    assert result.exit_code == 1, result.output  # the broken file failed
    summary = strict_json(result.stdout_bytes)
    [error] = summary["errors"]
    assert error["path"].endswith("broken-\ufffd.jpg")
    assert name_bytes(error) == os.fsencode(broken)


def test_every_json_output_parses_and_names_round_trip(odd_library: Path, tmp_path: Path, invoke) -> None:
    photo, copy = odd_library / LATIN1, odd_library / os.fsdecode(b"copy-\xff.png")
    shown = strict_json(invoke("show", str(photo), "--json").stdout_bytes)
    assert shown["path"].endswith("caf\ufffd.png") and name_bytes(shown) == os.fsencode(photo)
    assert [base64.b64decode(b) for b in shown["other_paths_bytes_b64"]] == [os.fsencode(copy)]

    hits = strict_json(invoke("search", "kite", "--json").stdout_bytes)
    assert sorted(name_bytes(hit) for hit in hits) == sorted([os.fsencode(photo), os.fsencode(copy)])

    embedded = strict_json(invoke("embed", "--dry-run", "--json").stdout_bytes)
    assert sorted(name_bytes(entry) for entry in embedded) == sorted([os.fsencode(photo), os.fsencode(copy)])

    invoke("edit", str(photo), "Kite.")  # too short: lint has something to say about both files
    findings = strict_json(invoke("lint", "--json").stdout_bytes)
    assert {name_bytes(finding) for finding in findings} == {os.fsencode(photo), os.fsencode(copy)}

    for fmt in ("json", "jsonl"):
        exported = invoke("export", "--format", fmt, "--under", str(odd_library), "--relative-to", str(odd_library))
        lines = exported.stdout_bytes.splitlines() if fmt == "jsonl" else [exported.stdout_bytes]
        rows = [strict_json(line) for line in lines]
        rows = rows[0] if fmt == "json" else rows
        assert sorted(name_bytes(row) for row in rows) == [b"caf\xe9.png", b"copy-\xff.png"]


def test_caption_lines_are_one_record_each_and_names_round_trip(shapes_model: Path, tmp_path: Path,
                                                                 invoke) -> None:
    from planted import write_image

    photos = tmp_path / "photos"
    names = ["tab\there.png", "new\nline.png", "back\\slash.png", LATIN1, "esc\x1b]0;title\x07.png"]
    for i, name in enumerate(names):
        write_image(photos / name, i, size=64)
    result = invoke("caption", str(photos), "--model", str(shapes_model))
    assert result.exit_code == 0, result.output
    lines = result.stdout_bytes.decode("utf-8").splitlines()
    assert len(lines) == len(names), lines
    found = set()
    for line in lines:
        path, alt = line.split("\t")  # exactly two fields: the name's tab is escaped
        assert alt and "\x1b" not in line and "\x07" not in line
        found.add(os.path.basename(unescape_line_field(path)))
    assert found == {os.fsencode(name) for name in names}

    records = strict_json(invoke("caption", str(photos), "--model", str(shapes_model), "--json").stdout_bytes)
    assert {os.path.basename(name_bytes(record)) for record in records} == {os.fsencode(name) for name in names}
