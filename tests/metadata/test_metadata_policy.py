"""Existing values: boilerplate is replaced, a person's text never is (unless forced with a
human-approved caption), alttext's own earlier caption only with force."""

from __future__ import annotations

import pytest
from metadata_helpers import lang_alt, requires_exiftool, sha

from alttext.metadata import Status, embed, read_descriptions
from alttext.metadata.fields import MARK_KEYS

pytestmark = requires_exiftool

PERSON = "Grandma's cat Chelsea asleep on the red sofa"
MODEL = "A cat lying on a couch"


@pytest.fixture
def person_jpeg(photos, exiftool):
    path = photos("jpeg_plain")
    exiftool.write(path, f"-XMP-iptcCore:AltTextAccessibility={PERSON}", f"-XMP-dc:Description={PERSON}",
                   f"-IFD0:ImageDescription={PERSON}")
    return path


def test_person_text_is_kept_by_default(person_jpeg) -> None:
    before = sha(person_jpeg)
    result = embed(person_jpeg, MODEL, fields={"alt", "description", "exif"})
    assert result.status is Status.SKIPPED_EXISTING
    assert set(result.skipped) == {"alt", "description", "exif"}
    assert all("kept existing" in reason for reason in result.skipped.values())
    assert sha(person_jpeg) == before


def test_force_alone_never_overwrites_a_person(person_jpeg) -> None:
    before = sha(person_jpeg)
    result = embed(person_jpeg, MODEL, fields={"alt", "exif"}, force=True)
    assert result.status is Status.SKIPPED_EXISTING
    assert "human-approved" in result.skipped["alt"]
    assert sha(person_jpeg) == before


def test_force_with_human_approved_caption_replaces(person_jpeg, exiftool) -> None:
    result = embed(person_jpeg, "Chelsea the cat asleep", fields={"alt"}, force=True, human_approved=True)
    assert result.status is Status.WRITTEN
    assert lang_alt(exiftool.xmp_packet(person_jpeg)) == {"x-default": "Chelsea the cat asleep",
                                                          "en": "Chelsea the cat asleep"}
    # And the approved caption is now protected like a person's text.
    again = embed(person_jpeg, MODEL, fields={"alt"}, force=True)
    assert again.status is Status.SKIPPED_EXISTING
    mark = exiftool.get(person_jpeg, "-XMP-alttext:AltTextAccessibility")
    assert mark["XMP-alttext:AltTextAccessibility"].startswith("human sha256:")


def test_own_model_caption_needs_force(photos, exiftool) -> None:
    path = photos("png")
    assert embed(path, MODEL).status is Status.WRITTEN
    newer = "A tabby cat curled up on a red couch"
    kept = embed(path, newer)
    assert kept.status is Status.SKIPPED_EXISTING
    assert "alttext's earlier caption" in kept.skipped["alt"]
    replaced = embed(path, newer, force=True)
    assert replaced.status is Status.WRITTEN
    assert "alttext's earlier caption" in replaced.fields[0].reason
    assert lang_alt(exiftool.xmp_packet(path))["x-default"] == newer


def test_own_caption_edited_by_a_person_becomes_theirs(photos, exiftool) -> None:
    path = photos("png")
    assert embed(path, MODEL).status is Status.WRITTEN
    exiftool.write(path, "-XMP-iptcCore:AltTextAccessibility=A cat on Grandma's couch")
    result = embed(path, "Something else", force=True)
    assert result.status is Status.SKIPPED_EXISTING
    assert "human-approved" in result.skipped["alt"]


@pytest.mark.parametrize("boilerplate", ["OLYMPUS DIGITAL CAMERA", "SONY DSC", "   ", "DCIM", "IMG_1234.JPG"])
def test_boilerplate_is_replaced_without_force(boilerplate: str, photos, exiftool) -> None:
    path = photos("jpeg_plain")
    exiftool.write(path, f"-IFD0:ImageDescription={boilerplate}", "-IFD0:Make=OLYMPUS")
    result = embed(path, MODEL, fields={"exif"})
    assert result.status is Status.WRITTEN, result.skipped
    assert exiftool.get(path, "-IFD0:ImageDescription")["IFD0:ImageDescription"] == MODEL


def test_make_and_model_copied_into_description_are_boilerplate(photos, exiftool) -> None:
    path = photos("jpeg_plain")
    exiftool.write(path, "-IFD0:Make=Acme", "-IFD0:Model=Snapper 3000", "-IFD0:ImageDescription=Acme Snapper 3000")
    assert embed(path, MODEL, fields={"exif"}).status is Status.WRITTEN


def test_same_text_is_completed_but_stays_the_persons(person_jpeg, exiftool) -> None:
    # exiftool wrote x-default only: alttext adds the 'en' entry, and EXIF already matches.
    result = embed(person_jpeg, f"  {PERSON} ", fields={"alt", "exif"})
    assert result.status is Status.WRITTEN
    assert [(f.field, f.action) for f in result.fields] == [("alt", "write"), ("exif", "unchanged")]
    assert lang_alt(exiftool.xmp_packet(person_jpeg)) == {"x-default": PERSON, "en": PERSON}
    before = sha(person_jpeg)
    assert embed(person_jpeg, PERSON, fields={"alt", "exif"}).status is Status.UNCHANGED
    # No mark was set, so the text is still a person's: a forced model caption cannot replace it.
    assert embed(person_jpeg, MODEL, force=True).status is Status.SKIPPED_EXISTING
    assert sha(person_jpeg) == before


def test_only_target_language_and_x_default_count(photos, exiftool) -> None:
    path = photos("jpeg_plain")
    exiftool.write(path, "-XMP-iptcCore:AltTextAccessibility-fr=Un chat sur un canapé")
    result = embed(path, MODEL)
    assert result.status is Status.WRITTEN
    assert lang_alt(exiftool.xmp_packet(path)) == {
        "x-default": MODEL, "en": MODEL, "fr": "Un chat sur un canapé",
    }


def test_iptc_only_where_iim_exists(photos, exiftool) -> None:
    plain = photos("jpeg_plain")
    result = embed(plain, MODEL, fields={"alt", "iptc"})
    assert result.written == ("alt",)
    assert "no IPTC-IIM" in result.skipped["iptc"]
    assert not any(k.startswith("IPTC:") for k in exiftool.tags(plain))

    rich = photos("jpeg_rich")  # has IIM (keywords, by-line) but no Caption-Abstract yet
    result = embed(rich, MODEL, fields={"iptc"})
    assert result.written == ("iptc",)
    tags = exiftool.tags(rich)
    assert tags["IPTC:Caption-Abstract"] == MODEL
    assert tags["IPTC:Keywords"] == ["cat", "pet"]


def test_marks_record_what_alttext_wrote(photos) -> None:
    path = photos("webp_extended")
    embed(path, MODEL, fields={"alt", "exif"})
    found = read_descriptions(path)
    assert found.file is not None
    assert set(found.file.marks) == {"alt", "exif"}
    assert found.file.written_by("alt", MODEL) == "model"
    assert found.file.written_by("alt", "other text") is None
    assert set(MARK_KEYS) == {"alt", "description", "exif", "iptc", "extdescr"}
