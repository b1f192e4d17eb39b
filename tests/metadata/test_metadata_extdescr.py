"""The long description as XMP Iptc4xmpCore:ExtDescrAccessibility, beside AltTextAccessibility
(docs/architecture.md §4, §13), checked with exiftool as the independent reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from alttext.metadata import Status, Where, embed

ALT = "A red bicycle leaning on a brick wall."
LONG = "A red city bicycle with a wicker basket leans against a weathered brick wall in afternoon light."
FIELDS = {"alt", "extdescr"}


def _read_back(exiftool, path: Path) -> dict[str, object]:
    return exiftool.get(path, "-XMP-iptcCore:AltTextAccessibility*", "-XMP-iptcCore:ExtDescrAccessibility*")


@pytest.mark.parametrize("kind", ["jpeg_plain", "png", "webp_lossy", "heic"])
def test_exiftool_reads_both_back(photos, exiftool, kind: str) -> None:
    path = photos(kind)
    result = embed(path, ALT, fields=FIELDS, long_description=LONG)
    assert result.status is Status.WRITTEN, result.error
    if kind == "heic":
        assert result.where is Where.EXIFTOOL
    tags = _read_back(exiftool, path)
    assert tags["XMP-iptcCore:AltTextAccessibility"] == ALT
    assert tags["XMP-iptcCore:AltTextAccessibility-en"] == ALT
    assert tags["XMP-iptcCore:ExtDescrAccessibility"] == LONG
    assert tags["XMP-iptcCore:ExtDescrAccessibility-en"] == LONG
    # alttext knows its own value again: a second run changes nothing.
    assert embed(path, ALT, fields=FIELDS, long_description=LONG).status is Status.UNCHANGED


def test_sidecar_of_a_raw_file_holds_both(photos, exiftool) -> None:
    tiff = photos("tiff")
    raw = tiff.with_name("IMG_0002.NEF")
    tiff.rename(raw)
    result = embed(raw, ALT, fields=FIELDS, long_description=LONG)
    assert result.status is Status.WRITTEN, result.error
    assert result.where is Where.SIDECAR
    tags = _read_back(exiftool, Path(str(raw) + ".xmp"))
    assert tags["XMP-iptcCore:AltTextAccessibility"] == ALT
    assert tags["XMP-iptcCore:ExtDescrAccessibility"] == LONG


def test_no_description_writes_no_extdescr(photos, exiftool) -> None:
    path = photos("jpeg_plain")
    result = embed(path, ALT, fields=FIELDS)
    assert result.status is Status.WRITTEN
    assert [o.field for o in result.fields] == ["alt"]
    tags = exiftool.tags(path)
    assert tags["XMP-iptcCore:AltTextAccessibility"] == ALT
    assert not [t for t in tags if "ExtDescr" in t]


def test_a_persons_extdescr_is_kept(photos, exiftool) -> None:
    path = photos("jpeg_plain")
    mine = "My grandfather's bicycle, the one he rode to work for forty years."
    exiftool.write(path, f"-XMP-iptcCore:ExtDescrAccessibility={mine}")

    result = embed(path, ALT, fields=FIELDS, long_description=LONG)
    outcome = {o.field: o for o in result.fields}["extdescr"]
    assert outcome.action == "skip" and outcome.previous == mine
    assert _read_back(exiftool, path)["XMP-iptcCore:ExtDescrAccessibility"] == mine

    # force alone does not replace a person's text with a model's; an approved description does.
    embed(path, ALT, fields=FIELDS, long_description=LONG, force=True)
    assert _read_back(exiftool, path)["XMP-iptcCore:ExtDescrAccessibility"] == mine
    # The alt text approved by a person does not approve the model's description.
    embed(path, ALT, fields=FIELDS, long_description=LONG, force=True, human_approved=True,
          long_description_approved=False)
    assert _read_back(exiftool, path)["XMP-iptcCore:ExtDescrAccessibility"] == mine
    result = embed(path, ALT, fields=FIELDS, long_description=LONG, force=True, long_description_approved=True)
    assert result.status is Status.WRITTEN, result.error
    assert _read_back(exiftool, path)["XMP-iptcCore:ExtDescrAccessibility"] == LONG


def test_alttexts_own_earlier_description_is_replaced_with_force(photos, exiftool) -> None:
    path = photos("png")
    embed(path, ALT, fields=FIELDS, long_description=LONG)
    newer = LONG + " A lamp post stands to the right."
    assert embed(path, ALT, fields=FIELDS, long_description=newer).status is Status.SKIPPED_EXISTING
    assert embed(path, ALT, fields=FIELDS, long_description=newer, force=True).status is Status.WRITTEN
    assert _read_back(exiftool, path)["XMP-iptcCore:ExtDescrAccessibility"] == newer


def test_dry_run_shows_the_field(photos) -> None:
    path = photos("jpeg_plain")
    before = path.read_bytes()
    result = embed(path, ALT, fields=FIELDS, long_description=LONG, dry_run=True)
    assert result.status is Status.DRY_RUN
    outcome = {o.field: o for o in result.fields}["extdescr"]
    assert outcome.action == "write"
    assert outcome.label == "XMP-iptcCore:ExtDescrAccessibility"
    assert path.read_bytes() == before


def test_an_unusable_description_is_left_out_with_a_note(photos, exiftool) -> None:
    path = photos("jpeg_plain")
    result = embed(path, ALT, fields=FIELDS, long_description="   ")
    assert result.status is Status.WRITTEN
    assert any("long description not embedded" in note for note in result.notes)
    assert not [t for t in exiftool.tags(path) if "ExtDescr" in t]


# Through the index and the write-back queue: which description goes to each file.

def _describe(library, path: Path, description: str) -> None:
    """A prompt-driven model's caption with a long description becomes the picture's current caption."""
    from alttext.index.captions import add_caption

    image_id = library.show(str(path))["image"]["id"]
    with library.index.write() as connection:
        add_caption(connection, image_id, text=ALT, raw_text=ALT, source="model", model="tiny-florence2",
                    description=description)


@pytest.mark.both_backends
def test_embed_from_the_index_writes_the_description_show_shows(db, shapes_model, tmp_path: Path, exiftool) -> None:
    from PIL import Image

    from alttext.library import Library

    folder = tmp_path / "pictures"
    folder.mkdir()
    described, edited, plain = folder / "described.jpg", folder / "edited.png", folder / "plain.jpg"
    for path, colour in ((described, "red"), (edited, "blue"), (plain, "green")):
        Image.new("RGB", (96, 64), colour).save(path)
    with Library(db, model=str(shapes_model)) as library:
        assert library.scan([str(folder)]).summary.failed == 0
        _describe(library, described, LONG)
        _describe(library, edited, LONG)
        library.edit(str(edited), "My blue square.")  # a person's edit: no description of its own
        outcomes = {Path(target.path).name: result for target, result in library.embed().results}
        assert {name: r.status for name, r in outcomes.items()} == dict.fromkeys(
            ("described.jpg", "edited.png", "plain.jpg"), Status.WRITTEN), outcomes

        tags = _read_back(exiftool, described)
        assert tags["XMP-iptcCore:AltTextAccessibility"] == ALT
        assert tags["XMP-iptcCore:ExtDescrAccessibility"] == LONG
        assert tags["XMP-iptcCore:ExtDescrAccessibility-en"] == LONG

        shown = library.show(str(edited))
        assert shown["alt_text"] == "My blue square." and shown["description"] == LONG
        tags = _read_back(exiftool, edited)
        assert tags["XMP-iptcCore:AltTextAccessibility"] == "My blue square."
        assert tags["XMP-iptcCore:ExtDescrAccessibility"] == LONG  # the model's, as show picks it
        # ... marked as a model's text: the person approved the alt text, not the description.
        marks = exiftool.get(edited, "-XMP-alttext:all")
        assert str(marks["XMP-alttext:ExtDescrAccessibility"]).startswith("model ")
        assert str(marks["XMP-alttext:AltTextAccessibility"]).startswith("human ")

        tags = exiftool.tags(plain)
        assert "XMP-iptcCore:AltTextAccessibility" in tags
        assert not [t for t in tags if "ExtDescr" in t]


@pytest.mark.both_backends
def test_cli_dry_run_shows_the_description_as_the_new_value(db, shapes_model, tmp_path: Path) -> None:
    from click.testing import CliRunner
    from PIL import Image

    from alttext.cli import cli
    from alttext.library import Library

    folder = tmp_path / "pictures"
    folder.mkdir()
    path = folder / "described.jpg"
    Image.new("RGB", (96, 64), "red").save(path)
    with Library(db, model=str(shapes_model)) as library:
        library.scan([str(folder)])
        _describe(library, path, LONG)
    before = path.read_bytes()
    result = CliRunner().invoke(cli, ["--db", str(db), "embed", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"XMP-iptcCore:AltTextAccessibility: (empty) -> {ALT!r}" in result.output
    assert f"XMP-iptcCore:ExtDescrAccessibility: (empty) -> {LONG!r}" in result.output
    assert path.read_bytes() == before
