"""Every format, checked by exiftool: the alt text reads back as a real Lang Alt, the pixels are the
same, no pre-existing tag is lost or changed, and exiftool -validate finds nothing new."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from metadata_helpers import (
    FORMATS,
    lang_alt,
    pixels,
    raw_pixels,
    requires_exiftool,
    tag_changes,
    temp_files,
)

from alttext.metadata import Status, Where, embed, read_descriptions

pytestmark = requires_exiftool

CAPTION = 'An astronaut\'s "portrait" <with> flags & a 🚀 — façade, naïve, שלום, مرحبا'

# Tags our write legitimately changes, per field.
WRITTEN_TAGS = {
    "XMP-iptcCore:AltTextAccessibility", "XMP-iptcCore:AltTextAccessibility-en",
    "XMP-dc:Description", "XMP-dc:Description-en", "IFD0:ImageDescription", "IPTC:Caption-Abstract",
    "XMP-alttext:Tool", "XMP-alttext:AltTextAccessibility", "XMP-alttext:Description",
    "XMP-alttext:ImageDescription", "XMP-alttext:CaptionAbstract",
}
EXPECTED_WHERE = {"heic": Where.EXIFTOOL}
# Structural changes that come with adding metadata: a simple WebP becomes extended (VP8X) to hold XMP,
# and TIFF strips move when IFD0 grows. Pixels are compared separately.
ALSO_CHANGES = {
    "webp_lossy": {"File:FileType"},
    "webp_lossless": {"File:FileType"},
    "tiff": {"IFD0:StripOffsets"},
    "jpeg_rich": {"Photoshop:IPTCDigest"},  # kept current with the new IPTC (checked below)
}


@pytest.mark.parametrize("kind", FORMATS)
def test_embed_all_fields_checked_by_exiftool(kind: str, photos, exiftool) -> None:
    path = photos(kind)
    os.chmod(path, 0o640)
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_123_456_789))
    before_tags = exiftool.tags(path)
    before_warnings = exiftool.warnings(path)
    before_pixels = pixels(path)
    before_raw = raw_pixels(path)
    before_thumbnail = exiftool.run("-b", "-ThumbnailImage", path)

    result = embed(path, CAPTION, fields={"alt", "description", "exif", "iptc"})

    assert result.status is Status.WRITTEN, result.error
    assert result.where is EXPECTED_WHERE.get(kind, Where.FILE)
    assert result.target == str(path.resolve())
    assert set(result.written) == {"alt", "description", "exif"} | ({"iptc"} if kind == "jpeg_rich" else set())

    # The raw packet holds real rdf:Alt structures with x-default and the language.
    packet = exiftool.xmp_packet(path)
    assert lang_alt(packet) == {"x-default": CAPTION, "en": CAPTION}
    assert lang_alt(packet, "dc:description") == {"x-default": CAPTION, "en": CAPTION}
    assert b'lang="x-default"' not in packet.replace(b'xml:lang="x-default"', b"")

    after_tags = exiftool.tags(path)
    assert after_tags["XMP-iptcCore:AltTextAccessibility"] == CAPTION
    assert after_tags["XMP-iptcCore:AltTextAccessibility-en"] == CAPTION
    assert after_tags["IFD0:ImageDescription"] == CAPTION
    if kind == "jpeg_rich":
        assert after_tags["IPTC:Caption-Abstract"] == CAPTION
        assert after_tags["IPTC:CodedCharacterSet"] == "UTF8"
        assert after_tags["Photoshop:IPTCDigest"] == after_tags["File:CurrentIPTCDigest"]
    assert tag_changes(before_tags, after_tags, WRITTEN_TAGS | ALSO_CHANGES.get(kind, set())) == {}
    assert exiftool.warnings(path) <= before_warnings

    assert np.array_equal(pixels(path), before_pixels)
    assert raw_pixels(path) == before_raw
    assert exiftool.run("-b", "-ThumbnailImage", path) == before_thumbnail  # moved maybe, not changed

    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_mtime_ns == 1_600_000_000_123_456_789  # kept by default
    assert result.stat is not None
    assert (result.stat.size, result.stat.mtime_ns, result.stat.inode) == (st.st_size, st.st_mtime_ns, st.st_ino)
    assert temp_files(path.parent) == []

    # What alttext reads back agrees with exiftool.
    found = read_descriptions(path)
    assert found.errors == ()
    assert found.file is not None and found.file.alt_text == {"x-default": CAPTION, "en": CAPTION}


def test_png_text_chunks_stay_byte_identical(photos) -> None:
    from alttext.metadata.png import chunks

    path = photos("png")
    before = [c for c in chunks(path.read_bytes()) if c[0] not in (b"eXIf",)]
    assert embed(path, "A rocket on its launch pad.").status is Status.WRITTEN
    after = chunks(path.read_bytes())
    kept = [c for c in after if not (c[0] == b"iTXt" and c[1][8:].startswith(b"XML:com.adobe.xmp"))]
    assert kept == before  # same chunks, same bytes, same order; only the XMP chunk was added


def test_simple_webp_becomes_extended_and_stays_valid(photos, exiftool) -> None:
    path = photos("webp_lossy")
    assert path.read_bytes()[12:16] == b"VP8 "
    assert embed(path, "A cup of coffee.").status is Status.WRITTEN
    data = path.read_bytes()
    assert data[12:16] == b"VP8X"  # XMP needs the extended format
    assert exiftool.warnings(path) == set()


def test_second_run_is_unchanged_and_leaves_bytes_alone(photos) -> None:
    path = photos("jpeg_plain")
    assert embed(path, "An astronaut.").status is Status.WRITTEN
    data = path.read_bytes()
    again = embed(path, "An astronaut.")
    assert again.status is Status.UNCHANGED
    assert path.read_bytes() == data


def test_other_language_and_explicit_language(photos, exiftool) -> None:
    path = photos("jpeg_plain")
    assert embed(path, "Ein Astronaut.", lang="de").status is Status.WRITTEN
    assert lang_alt(exiftool.xmp_packet(path)) == {"x-default": "Ein Astronaut.", "de": "Ein Astronaut."}
    # Adding English without force: x-default holds someone's text, so the field is left alone ...
    kept = embed(path, "An astronaut.", lang="en")
    assert kept.status is Status.SKIPPED_EXISTING
    # ... with force it is alttext's own model caption and may be replaced; 'de' stays.
    assert embed(path, "An astronaut.", lang="en", force=True).status is Status.WRITTEN
    assert lang_alt(exiftool.xmp_packet(path)) == {
        "x-default": "An astronaut.", "de": "Ein Astronaut.", "en": "An astronaut.",
    }


def test_x_default_only(photos, exiftool) -> None:
    path = photos("png")
    assert embed(path, "A rocket.", lang="x-default").status is Status.WRITTEN
    assert lang_alt(exiftool.xmp_packet(path)) == {"x-default": "A rocket."}


def test_keep_mtime_false_and_backup(photos) -> None:
    path = photos("jpeg_plain")
    original = path.read_bytes()
    os.utime(path, ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
    result = embed(path, "An astronaut.", keep_mtime=False, backup=True)
    assert result.status is Status.WRITTEN
    assert os.stat(path).st_mtime_ns > 1_500_000_000_000_000_000
    assert result.backup == str(path.resolve()) + "_original"
    assert Path(result.backup).read_bytes() == original
    # A second write keeps the first backup: it holds the oldest original.
    embed(path, "An astronaut in a suit.", force=True, backup=True)
    assert Path(str(path) + "_original").read_bytes() == original


def test_dry_run_writes_nothing(photos) -> None:
    path = photos("tiff")
    data = path.read_bytes()
    result = embed(path, "A cup of coffee.", fields=["alt", "exif"], dry_run=True)
    assert result.status is Status.DRY_RUN
    assert result.written == ("alt", "exif")
    assert path.read_bytes() == data
    assert temp_files(path.parent) == []


def test_symlink_is_kept_and_target_written(photos, exiftool) -> None:
    path = photos("jpeg_plain")
    link = path.parent / "link.jpg"
    link.symlink_to(path.name)
    assert embed(link, "An astronaut.").status is Status.WRITTEN
    assert link.is_symlink()
    assert exiftool.get(path, "-XMP-iptcCore:AltTextAccessibility")["XMP-iptcCore:AltTextAccessibility"] == (
        "An astronaut."
    )


def test_result_to_dict_is_json_ready(photos) -> None:
    import json

    result = embed(photos("png"), "A rocket.", fields="alt,exif")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["status"] == "written" and data["where"] == "file"
    assert data["written"] == ["alt", "exif"]
    assert {f["field"] for f in data["fields"]} == {"alt", "exif"}


def test_iim_is_byte_identical_when_iptc_is_not_written(photos, exiftool) -> None:
    from alttext.metadata.photoshop import _app13_segments

    path = photos("jpeg_rich")
    before = path.read_bytes()
    warnings = exiftool.warnings(path)
    assert embed(path, "A cat.", fields={"alt", "exif"}).status is Status.WRITTEN
    after = path.read_bytes()
    [(s0, e0)], [(s1, e1)] = _app13_segments(before), _app13_segments(after)
    assert before[s0:e0] == after[s1:e1]
    tags = exiftool.tags(path)
    assert tags["Photoshop:IPTCDigest"] == tags["File:CurrentIPTCDigest"]
    assert exiftool.warnings(path) <= warnings


def test_real_photoshop_jpeg(tmp_path: Path, exiftool) -> None:
    """scikit-image's Hubble picture: saved by Photoshop CS5 with EXIF, Adobe XMP, ICC, Ducky and APP14."""
    import shutil

    import skimage.data

    source = Path(skimage.data.__file__).parent / "hubble_deep_field.jpg"
    if not source.is_file():
        pytest.skip("hubble_deep_field.jpg not bundled with this scikit-image")
    path = tmp_path / "hubble.jpg"
    shutil.copyfile(source, path)
    before_tags, before_warnings, before_pixels = exiftool.tags(path), exiftool.warnings(path), pixels(path)
    result = embed(path, "Thousands of galaxies in the Hubble Deep Field", fields={"alt", "description", "exif"})
    assert result.status is Status.WRITTEN, result.error
    assert tag_changes(before_tags, exiftool.tags(path), WRITTEN_TAGS) == {}
    assert exiftool.warnings(path) <= before_warnings
    assert np.array_equal(pixels(path), before_pixels)
    assert lang_alt(exiftool.xmp_packet(path))["en"] == "Thousands of galaxies in the Hubble Deep Field"


def test_nonstandard_xmp_segment_is_not_doubled(photos) -> None:
    path = photos("jpeg_plain")
    data = path.read_bytes()
    packet = b'XMP\x00://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x="adobe:ns:meta/"></x:xmpmeta>'
    segment = b"\xff\xe1" + (len(packet) + 2).to_bytes(2, "big") + packet
    path.write_bytes(data[:2] + segment + data[2:])
    before = path.read_bytes()
    result = embed(path, "An astronaut.")
    assert result.status is Status.FAILED and "non-standard" in result.error
    assert path.read_bytes() == before
    assert embed(path, "An astronaut.", sidecar=True).status is Status.WRITTEN
