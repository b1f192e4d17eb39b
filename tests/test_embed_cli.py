"""``alttext embed`` and ``scan --embed`` on top of the index, checked with exiftool as the oracle."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import run_alttext
from photos import photo
from sqlalchemy import select

from alttext.cli import cli
from alttext.index.captions import add_caption
from alttext.index.db import Index
from alttext.index.models import SOURCE_HUMAN, STATUS_EDITED, files

pytestmark = [pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is the oracle"),
              pytest.mark.both_backends]  # SQLite and PostgreSQL (tests/conftest.py)


def exiftool(path: Path, *tags: str) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(["exiftool", "-j", "-G1", "-struct", *tags, str(path)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    photo("chelsea").save(root / "cat.jpg", quality=90)
    photo("coffee").save(root / "coffee.png")
    photo("rocket").save(root / "rocket.webp", quality=85)
    photo("astronaut").resize((200, 200)).save(root / "astronaut.tif")
    return root


def cli_run(db: Path | str, *args: str) -> object:
    return CliRunner().invoke(cli, ["--db", str(db), *args])


def test_embed_writes_alt_text_and_a_rescan_sees_no_change(library: Path, tmp_path: Path, tiny_model: Path,
                                                           db: Path | str) -> None:
    assert cli_run(db, "scan", str(library), "--model", str(tiny_model)).exit_code == 0
    result = cli_run(db, "embed", "--json")
    assert result.exit_code == 0, result.output
    entries = {Path(entry["path"]).name: entry for entry in json.loads(result.stdout)}
    assert set(entries) == {"cat.jpg", "coffee.png", "rocket.webp", "astronaut.tif"}
    for name, entry in entries.items():
        assert entry["status"] == "written", entry
        tags = exiftool(library / name, "-XMP-iptcCore:AltTextAccessibility")
        assert tags["XMP-iptcCore:AltTextAccessibility"] == entry["alt_text"]
    shown = json.loads(cli_run(db, "show", str(library / "cat.jpg"), "--json").stdout)
    assert shown["embedded"]["where"] == "file" and shown["embedded"]["at"]
    rescan = json.loads(cli_run(db, "scan", str(library), "--model", str(tiny_model), "--json").stdout)
    assert rescan["unchanged"] == 4 and rescan["changed"] == 0 and rescan["model_calls"] == 0
    again = cli_run(db, "embed", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout) == []  # nothing left to embed


def test_dry_run_changes_no_byte(library: Path, tmp_path: Path, tiny_model: Path, db: Path | str) -> None:
    cli_run(db, "scan", str(library), "--model", str(tiny_model))
    before = {path.name: digest(path) for path in library.iterdir()}
    result = cli_run(db, "embed", "--dry-run", "--json")
    assert result.exit_code == 0
    assert {entry["status"] for entry in json.loads(result.stdout)} == {"dry-run"}
    assert {path.name: digest(path) for path in library.iterdir()} == before


def test_existing_human_text_is_imported_and_never_overwritten(library: Path, tmp_path: Path,
                                                                tiny_model: Path, db: Path | str) -> None:
    described = library / "cat.jpg"
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-dc:Description=Our cat Mimi on the sofa",
                    str(described)], check=True)
    boilerplate = library / "coffee.png"
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-EXIF:ImageDescription=OLYMPUS DIGITAL CAMERA",
                    str(boilerplate)], check=True)
    summary = json.loads(cli_run(db, "scan", str(library), "--model", str(tiny_model), "--json").stdout)
    assert summary["imported"] == 1 and summary["captioned"] == 3
    cat = json.loads(cli_run(db, "show", str(described), "--json").stdout)
    assert cat["source"] == "metadata" and cat["alt_text"] == "Our cat Mimi on the sofa."
    coffee = json.loads(cli_run(db, "show", str(boilerplate), "--json").stdout)
    assert coffee["source"] == "model"  # camera boilerplate is not a caption
    before = digest(described)
    result = cli_run(db, "embed", str(described), "--fields", "alt,description", "--force", "--json")
    [entry] = json.loads(result.stdout)
    assert exiftool(described, "-XMP-dc:Description")["XMP-dc:Description"] == "Our cat Mimi on the sofa"
    assert entry["status"] in ("written", "unchanged", "skipped-existing")
    if entry["status"] != "written":
        assert digest(described) == before


def test_edited_caption_replaces_our_earlier_model_text(library: Path, tmp_path: Path, tiny_model: Path,
                                                        db: Path | str) -> None:
    cli_run(db, "scan", str(library), "--model", str(tiny_model))
    target = library / "rocket.webp"
    assert cli_run(db, "embed").exit_code == 0  # everything, with model captions
    with Index(db) as index, index.write() as connection:
        image_id = connection.execute(select(files.c.image_id)
                                      .where(files.c.path == str(target))).scalar()
        add_caption(connection, image_id, text="A rocket on its launch pad.", raw_text=None, source=SOURCE_HUMAN,
                    status=STATUS_EDITED)
    result = cli_run(db, "embed", "--json")  # no PATH: only what isn't embedded yet
    [entry] = json.loads(result.stdout)
    assert Path(entry["path"]).name == "rocket.webp" and entry["status"] == "written"
    tags = exiftool(target, "-XMP-iptcCore:AltTextAccessibility")
    assert tags["XMP-iptcCore:AltTextAccessibility"] == "A rocket on its launch pad."


def test_sidecar_for_raw_and_scan_embed_with_the_installed_command(tmp_path: Path, tiny_model: Path,
                                                                   db: Path | str) -> None:
    root = tmp_path / "raw"
    root.mkdir()
    photo("coffee").save(root / "coffee.jpg")
    result = run_alttext("--db", str(db), "scan", str(root), "--model", str(tiny_model), "--embed")
    assert result.returncode == 0, result.stderr
    assert "embedded 1 file(s), 0 failed" in result.stdout
    assert exiftool(root / "coffee.jpg", "-XMP-iptcCore:AltTextAccessibility").get(
        "XMP-iptcCore:AltTextAccessibility")
    sidecar = run_alttext("--db", str(db), "embed", str(root / "coffee.jpg"), "--sidecar", "--force", "--json")
    [entry] = json.loads(sidecar.stdout)
    assert entry["where"] == "sidecar" and Path(entry["target"]).name == "coffee.jpg.xmp"
    assert (root / "coffee.jpg.xmp").is_file()


def test_unknown_path_is_an_error(tmp_path: Path, db: Path | str) -> None:
    from alttext.index.db import Index

    Index(db).close()  # an index, without this file (no index at all: exit 2)
    result = cli_run(db, "embed", str(tmp_path / "never-scanned.jpg"))
    assert result.exit_code == 1 and "not in the index" in result.output


def _linked_library(tmp_path: Path, db: Path | str) -> tuple[Path, Path, Path]:
    """photos/own.png; photos/link.png, a link to elsewhere/theirs.png, outside the scanned folder; and
    photos/inside-link.png, a link to photos/target.png. Scanned with planted captions."""
    from web.planted import PlantedCaptioner, colour, write_image

    from alttext.index.scan import scan

    root, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    for number, path in enumerate((root / "own.png", elsewhere / "theirs.png", root / "target.png")):
        write_image(path, number)
    (root / "link.png").symlink_to(elsewhere / "theirs.png")
    (root / "inside-link.png").symlink_to(root / "target.png")
    captioner = PlantedCaptioner({colour(0): "A red kite.", colour(1): "A blue boat.", colour(2): "A green hat."})
    with Index(db) as index:
        scan(index, [str(root)], lambda: captioner, batch_size=8, max_pixels=10_000_000)
    return root, elsewhere / "theirs.png", root / "link.png"


def test_embed_never_writes_outside_the_scanned_folders_through_a_link(tmp_path: Path, db: Path | str) -> None:
    root, outside, _ = _linked_library(tmp_path, db)
    before = digest(outside)
    result = cli_run(db, "embed")  # no PATH: the index's scanned folders are the limit
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "link.png" in line and "inside-link" not in line]
    assert len(lines) == 1 and "outside the folders being embedded" in lines[0] and str(outside) in lines[0]
    assert digest(outside) == before and not list(outside.parent.glob("*.xmp"))
    for name in ("own.png", "target.png"):
        assert exiftool(root / name, "-XMP-iptcCore:AltTextAccessibility")["XMP-iptcCore:AltTextAccessibility"]
    assert (root / "inside-link.png").is_symlink()  # written through, the link kept
    status = json.loads(cli_run(db, "status", "--json").stdout)
    assert (status["embed_waiting"], status["embed_held"]) == (0, 1)  # counted, and held back
    named_folder = cli_run(db, "embed", str(root), "--json")  # the folder named is the limit too
    entries = {Path(entry["path"]).name: entry for entry in json.loads(named_folder.stdout)}
    assert entries["link.png"]["status"] == "failed" and "outside" in entries["link.png"]["error"]
    assert digest(outside) == before


def test_embed_writes_through_a_link_that_is_named(tmp_path: Path, db: Path | str) -> None:
    _, outside, link = _linked_library(tmp_path, db)
    result = cli_run(db, "embed", str(link), "--json")
    assert result.exit_code == 0, result.output
    [entry] = json.loads(result.stdout)
    assert entry["status"] == "written" and link.is_symlink()
    assert exiftool(outside, "-XMP-iptcCore:AltTextAccessibility")["XMP-iptcCore:AltTextAccessibility"]


def test_scan_embed_does_not_follow_a_link_out_of_the_folder(tmp_path: Path, tiny_model: Path,
                                                             db: Path | str) -> None:
    root, outside, _ = _linked_library(tmp_path, db)
    before = digest(outside)
    result = cli_run(db, "scan", str(root), "--model", str(tiny_model), "--embed")
    assert "outside the folders being embedded" in result.output
    assert digest(outside) == before
