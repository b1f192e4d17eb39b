"""`alttext scan` computes sentence vectors for new captions when the `semantic` extra is installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from alttext.cli import cli
from alttext.search.encoder import semantic_available

pytestmark = [
    pytest.mark.skipif(not semantic_available(), reason="the `semantic` extra is not installed"),
    pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool plants the descriptions"),
    pytest.mark.both_backends,  # SQLite and PostgreSQL (tests/conftest.py)
]

DESCRIPTIONS = {
    "a.png": "A dog running along a sandy beach",
    "b.png": "A red bus parked on a city street",
    "c.png": "A bowl of soup on a kitchen table",
}


def test_scan_embeds_new_captions_for_semantic_search(tmp_path: Path, tiny_model: Path, db: Path | str) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (name, description) in enumerate(DESCRIPTIONS.items()):
        Image.new("RGB", (24, 24), (i * 90, 60, 200 - i * 60)).save(folder / name)
        subprocess.run(["exiftool", "-q", "-overwrite_original", f"-XMP-dc:Description={description}",
                        str(folder / name)], check=True)
    runner = CliRunner()
    summary = json.loads(runner.invoke(cli, ["--db", str(db), "scan", str(folder), "--model", str(tiny_model),
                                             "--json"]).stdout)
    assert summary["imported"] == 3
    hits = json.loads(runner.invoke(cli, ["--db", str(db), "search", "--semantic", "puppy on the sand",
                                          "--json"]).stdout)
    assert Path(hits[0]["path"]).name == "a.png"
