"""Reading existing descriptions and choosing the one to import as a caption."""

from __future__ import annotations

import pytest
from metadata_helpers import requires_exiftool

from alttext.metadata import embed, is_boilerplate, pick_caption, read_descriptions


@pytest.mark.parametrize(
    "text",
    ["OLYMPUS DIGITAL CAMERA", "SONY DSC", "DCIM", "  ", "", "...", "KODAK Digital Still Camera",
     "ACME DIGITAL CAMERA", "IMG_0042.JPG", "DSC01234", "default", "Untitled", "EXIF_JPEG_PICTURE",
     "\u3000"],
)
def test_boilerplate(text: str) -> None:
    assert is_boilerplate(text)


@pytest.mark.parametrize(
    "text",
    ["A cat on a sofa", "Olympus mountain at dawn", "DSC team photo 2019", "Sony headquarters in Tokyo",
     "猫がソファで寝ている"],
)
def test_not_boilerplate(text: str) -> None:
    assert not is_boilerplate(text)


def test_make_and_model_are_boilerplate() -> None:
    assert is_boilerplate("NIKON CORPORATION", make="NIKON CORPORATION", model="NIKON D750")
    assert is_boilerplate("Acme Snapper", make="Acme", model="Snapper")
    assert not is_boilerplate("A lake", make="Acme", model="Snapper")


@requires_exiftool
def test_fields_languages_and_priority(photos, exiftool) -> None:
    path = photos("jpeg_rich")  # ImageDescription is "OLYMPUS DIGITAL CAMERA"
    found = read_descriptions(path)
    assert found.errors == ()
    assert found.file is not None
    assert found.file.image_description == "OLYMPUS DIGITAL CAMERA"
    assert found.file.make == "OLYMPUS IMAGING CORP."
    assert pick_caption(found) is None  # boilerplate only

    exiftool.write(path, "-IPTC:Caption-Abstract=Chelsea the cat, from IPTC")
    assert pick_caption(read_descriptions(path)).field == "iptc"

    exiftool.write(path, "-XMP-dc:Description=A tabby cat (dc)")
    best = pick_caption(read_descriptions(path))
    assert (best.field, best.lang, best.text) == ("description", "x-default", "A tabby cat (dc)")

    exiftool.write(
        path,
        "-XMP-iptcCore:AltTextAccessibility=Eine Katze",
        "-XMP-iptcCore:AltTextAccessibility-de=Eine Katze",
        "-XMP-iptcCore:AltTextAccessibility-en-GB=A tabby cat, British",
    )
    found = read_descriptions(path)
    assert found.file.alt_text == {"x-default": "Eine Katze", "de": "Eine Katze", "en-GB": "A tabby cat, British"}
    assert pick_caption(found, "en").text == "A tabby cat, British"  # en-GB beats x-default for "en"
    assert pick_caption(found, "de").text == "Eine Katze"
    assert pick_caption(found, "fr").lang == "x-default"
    assert [c.field for c in found.candidates("en")] == ["alt", "alt", "alt", "description", "iptc"]


def test_alttext_model_captions_are_not_imported(photos) -> None:
    path = photos("png")
    embed(path, "A rocket (model caption)", fields={"alt", "description"})
    found = read_descriptions(path)
    assert pick_caption(found) is None
    assert pick_caption(found, include_alttext=True).written_by_alttext == "model"

    embed(path, "The Saturn V before launch", fields={"alt"}, force=True, human_approved=True)
    best = read_descriptions(path).best_caption()
    assert (best.text, best.written_by_alttext) == ("The Saturn V before launch", "human")


def test_sidecar_is_read_and_preferred_for_raw(photos, tmp_path) -> None:
    tiff = photos("tiff")
    raw = tiff.with_name("IMG_0001.NEF")
    tiff.rename(raw)
    (tmp_path / "tiff" / "IMG_0001.NEF.xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
        '<rdf:li xml:lang="x-default">Coffee from the sidecar</rdf:li></rdf:Alt></dc:description>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    found = read_descriptions(raw)
    assert found.errors == ()
    assert [s.path for s in found.sidecars] == [str(raw) + ".xmp"]
    best = pick_caption(found)
    assert (best.text, best.origin) == ("Coffee from the sidecar", "sidecar")


@requires_exiftool
def test_heic_is_read_through_exiftool(photos, exiftool) -> None:
    path = photos("heic")
    exiftool.write(path, "-XMP-iptcCore:AltTextAccessibility=A rocket on a pad")
    assert pick_caption(read_descriptions(path)).text == "A rocket on a pad"


def test_problems_are_reported_not_raised(tmp_path) -> None:
    fake = tmp_path / "notes.jpg"
    fake.write_text("this is not a picture")
    found = read_descriptions(fake)
    assert found.file is None and found.errors == ("not an image (unknown file format)",)
    assert pick_caption(found) is None
    missing = read_descriptions(tmp_path / "missing.jpg")
    assert missing.errors == ("no such file",)
    broken_sidecar = tmp_path / "photo.png.xmp"
    broken_sidecar.write_text("<x:xmpmeta oops")
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "photo.png")
    found = read_descriptions(tmp_path / "photo.png")
    assert found.file is not None and len(found.errors) == 1 and "photo.png.xmp" in found.errors[0]


@requires_exiftool
def test_a_persons_long_description_is_read_apart_from_the_alt_text(photos, exiftool) -> None:
    from alttext.metadata import pick_description

    path = photos("jpeg_plain")
    exiftool.write(path, "-XMP-iptcCore:ExtDescrAccessibility=A tabby cat asleep on a green velvet sofa.",
                   "-XMP-iptcCore:ExtDescrAccessibility-de=Eine getigerte Katze schläft auf einem Sofa.")
    found = read_descriptions(path)
    assert pick_caption(found) is None  # a long description is never taken for alt text
    best = pick_description(found)
    assert (best.field, best.lang, best.text) == ("extdescr", "x-default", "A tabby cat asleep on a green velvet sofa.")
    assert pick_description(found, "de").text == "Eine getigerte Katze schläft auf einem Sofa."
    assert found.best_description() == best


@requires_exiftool
def test_alttexts_own_model_description_is_not_read_back_as_a_persons(photos) -> None:
    from alttext.metadata import pick_description

    path = photos("jpeg_plain")
    result = embed(path, "A cat.", fields={"alt", "extdescr"}, long_description="A cat on a sofa, at length.")
    assert result.ok, result.error
    found = read_descriptions(path)
    assert pick_description(found) is None and pick_caption(found) is None
    assert pick_description(found, include_alttext=True).text == "A cat on a sofa, at length."
    approved = photos("png")
    embed(approved, "A cat.", fields={"alt", "extdescr"}, long_description="A person's own words.",
          human_approved=True, long_description_approved=True)
    assert pick_description(read_descriptions(approved)).text == "A person's own words."
