"""XMP that libexiv2 cannot rewrite whole: the file is left untouched (issue 13, item 12).

The fixture is modelled on exiftool's own test image t/images/XMP.jpg (not shipped by Debian): an old
Photoshop packet in UTF-16 whose rdf:Description elements carry the pre-2004 ``about=`` attribute and
an ``xmpBJ:JobRef`` bag of structures. libexiv2 turns ``about`` into xmpMM:InstanceID (rdf:about is
gone) and cannot parse little-endian UTF-16 at all, so it would replace the whole packet (JobRef
gone). Its own before/after comparison sees none of that; exiftool, reading independently, does.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from metadata_helpers import ExifTool, build_jpeg_plain, requires_exiftool, sha, temp_files

from alttext.metadata import Status, Where, embed, exiftool, legacy_xmp
from alttext.metadata.exiv2io import Plan
from alttext.metadata.verify import VerifyError, check_independent

LEGACY_PACKET = """<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x='adobe:ns:meta/' x:xmptk='XMP toolkit 2.8.2-33, framework 1.5'>
<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' xmlns:iX='http://ns.adobe.com/iX/1.0/'>
 <rdf:Description about='uuid:b2a8ef4b-5ea0-11d8-a1dc-dd7e86ddb59b'
  xmlns:xmpBJ='http://ns.adobe.com/xap/1.0/bj/'>
  <xmpBJ:JobRef>
   <rdf:Bag>
    <rdf:li rdf:parseType='Resource' xmlns:stJob='http://ns.adobe.com/xap/1.0/sType/Job#'>
     <stJob:name>Photoshop Job</stJob:name>
     <stJob:id>job-1</stJob:id>
    </rdf:li>
   </rdf:Bag>
  </xmpBJ:JobRef>
 </rdf:Description>
 <rdf:Description about='uuid:b2a8ef4b-5ea0-11d8-a1dc-dd7e86ddb59b'
  xmlns:dc='http://purl.org/dc/elements/1.1/'>
  <dc:title><rdf:Alt><rdf:li xml:lang='x-default'>Legacy title</rdf:li></rdf:Alt></dc:title>
 </rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>"""

XMP_APP1_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
KEPT_TAGS = ("XMP-rdf:About", "XMP-xmpBJ:JobRefName", "XMP-xmpBJ:JobRefId", "XMP-dc:Title")


def with_xmp_packet(path: Path, packet: bytes) -> Path:
    """Put ``packet`` into an APP1 XMP segment right after the JFIF segment of the JPEG at ``path``."""
    data = path.read_bytes()
    app0_end = 4 + struct.unpack(">H", data[4:6])[0]
    body = XMP_APP1_HEADER + packet
    segment = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    path.write_bytes(data[:app0_end] + segment + data[app0_end:])
    return path


def legacy_jpeg(folder: Path, encoding: str) -> Path:
    return with_xmp_packet(build_jpeg_plain(folder), LEGACY_PACKET.encode(encoding))


def assert_untouched(result, path: Path, before: str, *, contains: str) -> None:
    assert result.status is Status.FAILED, result
    assert result.error and contains in result.error, result.error
    assert "\n" not in result.error
    assert sha(path) == before
    assert temp_files(path.parent) == []


@requires_exiftool
@pytest.mark.parametrize(
    ("encoding", "why"),
    [
        ("utf-16-be", "exiftool finds the rewrite without XMP-rdf:About"),  # exiv2 reads it, drops about
        ("utf-16-le", "libexiv2 cannot read the file's XMP packet"),  # exiv2 sees no XMP at all
        ("utf-8", "exiftool finds the rewrite without XMP-rdf:About"),  # the old about= alone
    ],
)
def test_legacy_packet_is_left_untouched(tmp_path: Path, exiftool: ExifTool, encoding: str, why: str) -> None:
    path = legacy_jpeg(tmp_path, encoding)
    found = exiftool.tags(path)
    assert {tag: found.get(tag) for tag in KEPT_TAGS} == {
        "XMP-rdf:About": "uuid:b2a8ef4b-5ea0-11d8-a1dc-dd7e86ddb59b", "XMP-xmpBJ:JobRefName": "Photoshop Job",
        "XMP-xmpBJ:JobRefId": "job-1", "XMP-dc:Title": "Legacy title",
    }
    before = sha(path)
    assert_untouched(embed(path, "A red square."), path, before, contains=why)
    if encoding == "utf-16-le":  # seen before anything is written: a dry run says so too
        assert_untouched(embed(path, "A red square.", dry_run=True), path, before, contains=why)


@requires_exiftool
def test_modern_rdf_about_is_not_dropped_either(photos, exiftool: ExifTool) -> None:
    path = photos("jpeg_plain")
    exiftool.write(path, "-XMP-rdf:About=uuid:1234", "-XMP-xmp:Rating=3")
    before = sha(path)
    assert_untouched(embed(path, "An astronaut."), path, before,
                     contains="exiftool finds the rewrite without XMP-rdf:About")


@requires_exiftool
def test_legacy_sidecar_is_left_untouched(photos, exiftool: ExifTool) -> None:
    path = photos("jpeg_plain")
    sidecar = Path(str(path) + ".xmp")
    sidecar.write_bytes(LEGACY_PACKET.encode("utf-16-le"))
    assert exiftool.tags(sidecar).get("XMP-xmpBJ:JobRefName") == "Photoshop Job"
    before = sha(sidecar)
    result = embed(path, "An astronaut.", sidecar=True)
    assert_untouched(result, sidecar, before, contains="cannot read")
    assert result.where is Where.SIDECAR


@requires_exiftool
def test_ordinary_files_still_pass_the_independent_check(photos, exiftool: ExifTool) -> None:
    """No false alarms: the rich JPEG (EXIF, IPTC, XMP with bags and Lang Alts) and a new sidecar."""
    rich = photos("jpeg_rich")
    assert embed(rich, "A cat.", fields=["alt", "description"], lang="de").status is Status.WRITTEN
    assert embed(photos("png"), "A rocket.", sidecar=True).status is Status.WRITTEN


@requires_exiftool
@pytest.mark.parametrize("sidecar", [False, True])
def test_a_change_only_exiftool_sees_is_caught(photos, monkeypatch, sidecar: bool) -> None:
    path = photos("jpeg_plain")
    target = Path(str(path) + ".xmp") if sidecar else path
    if sidecar:
        assert embed(path, "First.", sidecar=True).status is Status.WRITTEN
    before = sha(target)
    real_tags = exiftool.xmp_tags

    def tags(name: str) -> dict[str, object]:
        found = real_tags(name)
        if ".alttext-tmp-" in name:  # the rewritten copy
            found["XMP-xmpBJ:JobRefName"] = "invented"
        return found

    monkeypatch.setattr(exiftool, "xmp_tags", tags)
    result = embed(path, "An astronaut.", sidecar=sidecar, force=True)
    assert_untouched(result, target, before, contains="unexpected XMP-xmpBJ:JobRefName")


@pytest.mark.parametrize("encoding", ["utf-16-be", "utf-16-le", "utf-8"])
def test_without_exiftool_legacy_packets_are_refused(tmp_path: Path, monkeypatch, encoding: str) -> None:
    monkeypatch.setattr(exiftool, "exiftool_path", lambda: None)
    path = legacy_jpeg(tmp_path, encoding)
    before = sha(path)
    assert_untouched(embed(path, "A red square.", sidecar=False), path, before, contains="without exiftool")


def test_without_exiftool_ordinary_files_are_written(photos, monkeypatch) -> None:
    monkeypatch.setattr(exiftool, "exiftool_path", lambda: None)
    assert embed(photos("jpeg_plain"), "An astronaut.").status is Status.WRITTEN


@pytest.mark.parametrize(
    ("packet", "problem"),
    [
        (LEGACY_PACKET.encode("utf-16-le"), "UTF-16"),
        (LEGACY_PACKET.encode("utf-16-be"), "UTF-16"),
        (LEGACY_PACKET.encode("utf-32-le"), "UTF-32"),
        (LEGACY_PACKET.encode("utf-32-be"), "UTF-32"),
        (LEGACY_PACKET.encode("utf-8"), "old about= form"),
        (LEGACY_PACKET.replace("<rdf:Description about=", "<rdf:Description\n about=").encode(), "about="),
        (LEGACY_PACKET.replace(" about=", " rdf:about=").encode(), None),
        (LEGACY_PACKET.replace(" about=", " rdf:about=").replace("job-1", "about='x'").encode(), None),
    ],
)
def test_obstacle(packet: bytes, problem: str | None) -> None:
    found = legacy_xmp.obstacle(b"\xff\xd8 image bytes " + packet + b" more bytes")
    assert found == problem if problem is None else (found and problem in found)


def test_independent_check_ignores_only_what_was_written() -> None:
    plan = Plan(lang_alt={"Xmp.iptc.AltTextAccessibility": {"x-default": "New", "en": "New"}},
                strings={"Xmp.alttext.AltTextAccessibility": "model sha256:1", "Xmp.alttext.Tool": "alttext"})
    before = {"XMP-x:XMPToolkit": "Image::ExifTool 12.57", "XMP-iptcCore:AltTextAccessibility": "Old",
              "XMP-iptcCore:AltTextAccessibility-EN": "Old", "XMP-iptcCore:AltTextAccessibility-de": "Alt",
              "XMP-dc:Subject": ["a", "b"]}
    after = {"XMP-x:XMPToolkit": "XMP Core 4.4.0-Exiv2", "XMP-iptcCore:AltTextAccessibility": "New",
             "XMP-iptcCore:AltTextAccessibility-en": "New", "XMP-iptcCore:AltTextAccessibility-de": "Alt",
             "XMP-alttext:AltTextAccessibility": "model sha256:1", "XMP-alttext:Tool": "alttext",
             "XMP-dc:Subject": ["a", "b"]}
    check_independent(before, after, plan)
    for broken, message in [
        ({k: v for k, v in after.items() if k != "XMP-iptcCore:AltTextAccessibility-de"}, "without"),
        ({**after, "XMP-dc:Subject": ["a"]}, "changed XMP-dc:Subject"),
        ({**after, "XMP-xmpMM:InstanceID": "uuid:1"}, "unexpected XMP-xmpMM:InstanceID"),
    ]:
        with pytest.raises(VerifyError, match=message):
            check_independent(before, broken, plan)


@requires_exiftool
def test_a_file_name_with_a_line_break_is_read_too(tmp_path: Path) -> None:
    folder = tmp_path / "two\nlines"
    folder.mkdir()
    assert embed(build_jpeg_plain(folder), "An astronaut.").status is Status.WRITTEN


@requires_exiftool
def test_the_kept_exiftool_process_is_restarted_when_it_died(photos) -> None:
    path = photos("jpeg_plain")
    assert embed(path, "An astronaut.").status is Status.WRITTEN
    process = exiftool._reader._proc
    assert process is not None
    process.kill()
    process.wait()
    assert "XMP-iptcCore:AltTextAccessibility" in exiftool.xmp_tags(str(path))
