"""``alttext embed --dry-run`` says, per file, where each field would go, what it holds now and what it
would hold, and changes no byte of any file."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from alttext.cli import cli
from alttext.index.db import Index
from alttext.index.scan import scan

sys.path.insert(0, str(Path(__file__).parent / "web"))
from planted import PlantedCaptioner, colour, write_image

pytestmark = [pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool to plant metadata"),
              pytest.mark.both_backends]  # SQLite and PostgreSQL (tests/conftest.py)


def _digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


@pytest.fixture
def photos(tmp_path: Path, index: Index) -> Path:
    """Two indexed PNGs captioned "A red square." by the model; one already holds a camera's description."""
    folder = tmp_path / "photos"
    write_image(folder / "plain.png", 0)
    write_image(folder / "described.png", 1)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-dc:Description=OLYMPUS DIGITAL CAMERA",
                    str(folder / "described.png")], check=True)
    captioner = PlantedCaptioner({colour(0): "A red square.", colour(1): "A red square."})
    scan(index, [str(folder)], lambda: captioner, batch_size=8, max_pixels=10_000_000)
    return folder


def test_dry_run_shows_field_old_and_new_value_and_writes_nothing(photos: Path, db: Path | str) -> None:
    before = _digests(photos)
    result = CliRunner().invoke(cli, ["--db", str(db), "embed", "--dry-run", "--fields", "alt,description"])
    assert result.exit_code == 0, result.output
    assert _digests(photos) == before
    out = result.output
    assert f"dry-run: {photos / 'plain.png'} (in the file)" in out
    assert "XMP-iptcCore:AltTextAccessibility: (empty) -> 'A red square.'  [was empty]" in out
    assert "XMP-dc:Description: 'OLYMPUS DIGITAL CAMERA' -> 'A red square.'" in out


def test_dry_run_into_a_sidecar_names_the_sidecar_and_creates_none(photos: Path, db: Path | str) -> None:
    before = _digests(photos)
    result = CliRunner().invoke(cli, ["--db", str(db), "embed", "--dry-run", "--sidecar", "--json",
                                      str(photos / "plain.png")])
    assert result.exit_code == 0, result.output
    assert _digests(photos) == before  # no sidecar appeared either
    [entry] = json.loads(result.output)
    assert entry["status"] == "dry-run" and entry["where"] == "sidecar"
    assert entry["target"] == str(photos / "plain.png.xmp") and entry["alt_text"] == "A red square."
    [field] = entry["fields"]
    assert field["label"] == "XMP-iptcCore:AltTextAccessibility" and field["action"] == "write"
    assert field["previous"] is None
