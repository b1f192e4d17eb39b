"""XMP sidecars: RAW and read-only media get one; existing sidecars are merged, never clobbered."""

from __future__ import annotations

from pathlib import Path

import pytest
from metadata_helpers import lang_alt, requires_exiftool, sha, tag_changes, temp_files
from PIL import Image

from alttext.metadata import Status, Where, atomic, embed, exiftool

DARKTABLE = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:darktable="http://darktable.sf.net/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
   xmp:Rating="4"
   xmpMM:DerivedFrom="IMG_0001.NEF"
   darktable:xmp_version="5"
   darktable:history_end="2">
   <dc:subject><rdf:Bag><rdf:li>holiday</rdf:li><rdf:li>beach</rdf:li></rdf:Bag></dc:subject>
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:num="0" darktable:operation="rawprepare" darktable:enabled="1"
      darktable:modversion="2" darktable:params="0000000000000000"/>
     <rdf:li darktable:num="1" darktable:operation="exposure" darktable:enabled="1"
      darktable:modversion="6" darktable:params="00000000cdcc4c3e"/>
    </rdf:Seq>
   </darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


@pytest.fixture
def raw(photos) -> Path:
    """A TIFF-structured file named like a Nikon RAW (NEF is TIFF-based)."""
    tiff = photos("tiff")
    path = tiff.with_name("IMG_0001.NEF")
    tiff.rename(path)
    return path


def test_raw_gets_a_new_sidecar(raw: Path) -> None:
    before = sha(raw)
    result = embed(raw, "A cup of coffee.", fields={"alt", "description", "exif"})
    assert result.status is Status.WRITTEN and result.where is Where.SIDECAR
    sidecar = Path(str(raw) + ".xmp")
    assert result.target == str(sidecar)
    assert result.written == ("alt", "description")
    assert result.skipped == {"exif": "a sidecar holds XMP only"}
    assert lang_alt(sidecar.read_bytes()) == {"x-default": "A cup of coffee.", "en": "A cup of coffee."}
    assert sha(raw) == before
    assert result.stat is not None and result.stat == result.stat_before  # the RAW itself is untouched
    assert temp_files(raw.parent) == []
    assert embed(raw, "A cup of coffee.").status is Status.UNCHANGED


def test_sidecar_name_without_extension(raw: Path) -> None:
    result = embed(raw, "A cup of coffee.", sidecar_name="xmp")
    assert result.target == str(raw.with_suffix(".xmp"))
    assert raw.with_suffix(".xmp").is_file()
    assert not Path(str(raw) + ".xmp").exists()


@requires_exiftool
def test_merge_keeps_darktable_history_and_rating(raw: Path, exiftool) -> None:
    sidecar = Path(str(raw) + ".xmp")
    sidecar.write_text(DARKTABLE)
    before = exiftool.tags(sidecar)
    history = exiftool.get(sidecar, "-struct", "-XMP-darktable:History")
    result = embed(raw, "A cup of coffee on a saucer.")
    assert result.status is Status.WRITTEN
    after = exiftool.tags(sidecar)
    assert tag_changes(before, after, set()) == {}
    assert after["XMP-xmp:Rating"] == 4
    assert after["XMP-dc:Subject"] == ["holiday", "beach"]
    assert exiftool.get(sidecar, "-struct", "-XMP-darktable:History") == history
    assert lang_alt(sidecar.read_bytes())["en"] == "A cup of coffee on a saucer."


def test_person_text_in_the_image_protects_the_sidecar(photos, exiftool) -> None:
    path = photos("jpeg_plain")
    exiftool.write(path, "-XMP-iptcCore:AltTextAccessibility=Neil on the Moon")
    result = embed(path, "An astronaut.", sidecar=True)
    assert result.status is Status.SKIPPED_EXISTING
    assert "the image" in result.skipped["alt"]
    assert not Path(str(path) + ".xmp").exists()


def test_sidecar_for_a_jpeg_on_request(photos) -> None:
    path = photos("jpeg_plain")
    before = sha(path)
    result = embed(path, "An astronaut.", sidecar=True)
    assert result.where is Where.SIDECAR and result.status is Status.WRITTEN
    assert sha(path) == before


def test_invalid_existing_sidecar_is_left_alone(raw: Path) -> None:
    sidecar = Path(str(raw) + ".xmp")
    sidecar.write_text("<x:xmpmeta this is not xml")
    before = sha(sidecar)
    result = embed(raw, "A cup of coffee.")
    assert result.status is Status.FAILED and "left alone" in result.error
    assert sha(sidecar) == before


def test_read_only_sidecar_is_not_replaced(raw: Path) -> None:
    sidecar = Path(str(raw) + ".xmp")
    sidecar.write_text(DARKTABLE)
    sidecar.chmod(0o444)
    before = sha(sidecar)
    result = embed(raw, "A cup of coffee.")
    assert result.status is Status.FAILED and "sidecar is read-only" in result.error
    assert sha(sidecar) == before


def test_sidecar_appearing_meanwhile_is_never_clobbered(raw: Path, monkeypatch) -> None:
    sidecar = Path(str(raw) + ".xmp")

    def lightroom_writes(stage: str, target: str) -> None:
        if stage == "before-replace":
            Path(target).write_text(DARKTABLE)

    monkeypatch.setattr(atomic, "checkpoint", lightroom_writes)
    result = embed(raw, "A cup of coffee.")
    assert result.status is Status.FAILED and "appeared meanwhile" in result.error
    assert sidecar.read_text() == DARKTABLE
    assert temp_files(raw.parent) == []


def test_sidecar_changed_meanwhile_is_not_replaced(raw: Path, monkeypatch) -> None:
    sidecar = Path(str(raw) + ".xmp")
    sidecar.write_text(DARKTABLE)
    edited = DARKTABLE.replace('xmp:Rating="4"', 'xmp:Rating="5"')

    def darktable_saves(stage: str, target: str) -> None:
        if stage == "before-replace":
            Path(target).write_text(edited)

    monkeypatch.setattr(atomic, "checkpoint", darktable_saves)
    result = embed(raw, "A cup of coffee.")
    assert result.status is Status.FAILED and "meanwhile" in result.error
    assert sidecar.read_text() == edited


def test_heic_without_exiftool_gets_a_sidecar(photos, monkeypatch) -> None:
    path = photos("heic")
    before = sha(path)
    monkeypatch.setattr(exiftool, "exiftool_path", lambda: None)
    failed = embed(path, "A rocket.", sidecar=False)
    assert failed.status is Status.FAILED and "exiftool" in failed.error
    result = embed(path, "A rocket.")
    assert result.status is Status.WRITTEN and result.where is Where.SIDECAR
    assert "exiftool is not installed" in result.notes[0]
    assert sha(path) == before


def test_gif_gets_a_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    Image.new("P", (16, 16)).save(path)
    result = embed(path, "A blank animation.")
    assert result.status is Status.WRITTEN and result.where is Where.SIDECAR
    failed = embed(path, "A blank animation.", sidecar=False)
    assert failed.status is Status.FAILED and "use a sidecar" in failed.error


def test_raw_is_never_rewritten_in_place(raw: Path) -> None:
    before = sha(raw)
    result = embed(raw, "A cup of coffee.", sidecar=False)
    assert result.status is Status.FAILED and "never rewritten" in result.error
    assert sha(raw) == before


def test_fake_raw_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0002.CR2"
    path.write_text("not a raw file")
    result = embed(path, "Anything.")
    assert result.status is Status.FAILED and "not an image" in result.error
    assert not Path(str(path) + ".xmp").exists()
