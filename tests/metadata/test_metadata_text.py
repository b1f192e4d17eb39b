"""Awkward captions: every script and XML special character survives; over-long text is refused cleanly."""

from __future__ import annotations

import pytest
from metadata_helpers import lang_alt, requires_exiftool, sha, temp_files

from alttext.metadata import MAX_TEXT_BYTES, Status, embed
from alttext.metadata.fields import TextError, clean_text

CAPTIONS = {
    "emoji": "A dog 🐕‍🦺 wearing sunglasses 😎 next to a 🇨🇭 flag",
    "accents": "Crème brûlée on a café table in Zürich, Ångström, Ñandú, Łódź",
    "hebrew": "כלב משחק בכדור בפארק",
    "arabic": "قطة تجلس على النافذة",
    "mixed_bidi": "The sign says \u202bשלום\u202c and 123",
    "quotes": "He said \"cheese\" and 'smiled' — `ok`",
    "markup": "<b>not bold</b> & <![CDATA[x]]> &amp; &lt; ]]> <?xpacket end='w'?>",
    "cjk": "富士山と桜の木、日本の春",
    "newlines": "First line.\nSecond line.\tTabbed.",
}


@requires_exiftool
@pytest.mark.parametrize("name", sorted(CAPTIONS))
def test_caption_round_trips_through_exiftool(name: str, photos, exiftool) -> None:
    text = CAPTIONS[name]
    path = photos("jpeg_plain")
    result = embed(path, text, fields={"alt", "exif"})
    assert result.status is Status.WRITTEN, result.error
    assert lang_alt(exiftool.xmp_packet(path)) == {"x-default": text, "en": text}
    got = exiftool.get(path, "-IFD0:ImageDescription", "-XMP-iptcCore:AltTextAccessibility")
    assert got["XMP-iptcCore:AltTextAccessibility"] == text
    assert got["IFD0:ImageDescription"] == text
    assert exiftool.warnings(path) == set()


def test_text_is_normalised() -> None:
    assert clean_text("  Cafe\u0301 \x00\x07bar  ") == "Café bar"  # NFC, control characters dropped, trimmed
    with pytest.raises(TextError, match="empty"):
        clean_text(" \t\n ")
    with pytest.raises(TextError, match="Unicode"):
        clean_text("bad \ud800 surrogate")


@requires_exiftool
def test_long_text_is_written_where_it_fits(photos, exiftool) -> None:
    text = ("A very long and detailed description of the picture. " * 200)[:10_000].strip()
    path = photos("jpeg_plain")
    assert embed(path, text).status is Status.WRITTEN
    assert lang_alt(exiftool.xmp_packet(path)) == {"x-default": text, "en": text}
    assert exiftool.warnings(path) == set()


@pytest.mark.parametrize("kind", ["jpeg_plain", "png"])
@pytest.mark.parametrize("size", [MAX_TEXT_BYTES + 2, 70_000])  # just over, and over JPEG's 64 KB
def test_text_over_the_limit_is_refused(kind: str, size: int, photos) -> None:
    path = photos(kind)
    before = sha(path)
    result = embed(path, "é" * (size // 2))
    assert result.status is Status.FAILED
    assert "limit" in result.error and "\n" not in result.error
    assert sha(path) == before
    assert temp_files(path.parent) == []


def test_jpeg_xmp_over_64k_is_refused_not_broken(photos) -> None:
    """Under the text limit, but alt text + dc:description (each x-default + en) exceed JPEG's one
    64 KB APP1 segment: refused, never an extended-XMP-less broken file."""
    path = photos("jpeg_plain")
    before = sha(path)
    text = "ü" * (MAX_TEXT_BYTES // 2 - 10)  # ~16 KB of UTF-8, written four times
    result = embed(path, text, fields={"alt", "description"})
    assert result.status is Status.FAILED
    assert "64 KB" in result.error
    assert sha(path) == before
    assert temp_files(path.parent) == []
    # The same text fits a PNG, which has no such segment limit.
    png = photos("png")
    assert embed(png, text, fields={"alt", "description"}).status is Status.WRITTEN


@requires_exiftool
def test_iptc_gets_utf8_charset_or_is_skipped(photos, exiftool) -> None:
    path = photos("jpeg_exif_only")
    # An IIM block with a non-ASCII value but no declared charset: adding UTF-8 text would be ambiguous.
    exiftool.write(path, "-IPTC:City=Köln", "-IPTC:CodedCharacterSet=")
    result = embed(path, "Ein Straßencafé", fields={"iptc"})
    assert result.status is Status.UNCHANGED
    assert "character set" in result.skipped["iptc"]
    # ASCII text is fine in any IIM character set.
    result = embed(path, "A street cafe", fields={"iptc"})
    assert result.status is Status.WRITTEN
    assert exiftool.get(path, "-IPTC:Caption-Abstract")["IPTC:Caption-Abstract"] == "A street cafe"


@requires_exiftool
def test_iptc_over_2000_bytes_is_skipped(photos, exiftool) -> None:
    path = photos("jpeg_rich")
    result = embed(path, "x" * 2500, fields={"alt", "iptc"})
    assert result.status is Status.WRITTEN
    assert result.written == ("alt",)
    assert "2000" in result.skipped["iptc"]
