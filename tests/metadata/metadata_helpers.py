"""Helpers for the metadata tests: real photos (scikit-image samples) in every format, and exiftool as
the independent oracle, kept running (``-stay_open``) so that hundreds of checks stay fast.

A plain module (not conftest.py) so that test files can import it: pytest puts this folder on sys.path.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageCms, PngImagePlugin
from skimage import data as samples

from alttext.images import open_image

pillow_heif.register_heif_opener()

HAVE_EXIFTOOL = shutil.which("exiftool") is not None
requires_exiftool = pytest.mark.skipif(not HAVE_EXIFTOOL, reason="exiftool (libimage-exiftool-perl) not installed")

NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    "dc": "http://purl.org/dc/elements/1.1/",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# Tags that legitimately differ between two versions of a file (file system, sizes, offsets, the XMP
# toolkit that serialised the packet, digests over changed blocks).
VOLATILE_TAGS = {
    "SourceFile", "ExifTool:ExifToolVersion", "System:FileName", "System:Directory", "System:FileSize",
    "System:FileModifyDate", "System:FileAccessDate", "System:FileInodeChangeDate",
    "System:FilePermissions", "XMP-x:XMPToolkit", "File:CurrentIPTCDigest", "QuickTime:MediaDataSize",
    "QuickTime:MediaDataOffset", "File:ExifByteOrder", "IFD1:ThumbnailOffset",
}


class ExifTool:
    """One long-running exiftool process (``-stay_open``); thread-safe."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            ["exiftool", "-stay_open", "True", "-@", "-"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        self._lock = threading.Lock()
        self._count = 0

    def run(self, *args: str | os.PathLike[str]) -> bytes:
        assert self._proc.stdin and self._proc.stdout
        lines = [os.fspath(a) for a in args]
        assert not any("\n" in line for line in lines)
        with self._lock:
            # A numbered -execute prints its {readyN} marker even with -q.
            self._count += 1
            marker = f"{{ready{self._count}}}\n".encode()
            self._proc.stdin.write(("\n".join([*lines, f"-execute{self._count}", ""])).encode())
            self._proc.stdin.flush()
            out = bytearray()
            while not out.endswith(marker):
                chunk = self._proc.stdout.read1(65536)
                if not chunk:
                    raise RuntimeError("exiftool died")
                out += chunk
        return bytes(out[: -len(marker)])

    def tags(self, path: Path) -> dict[str, object]:
        """All tags, grouped by family 1 (``-j -G1 -a``), with Lang Alt entries as separate tags."""
        (info,) = json.loads(self.run("-j", "-G1", "-a", "-q", "-q", path))
        return info

    def get(self, path: Path, *tags: str) -> dict[str, object]:
        (info,) = json.loads(self.run("-j", "-G1", "-q", "-q", *tags, path))
        return info

    def xmp_packet(self, path: Path) -> bytes:
        return self.run("-b", "-XMP", path)

    def warnings(self, path: Path) -> set[str]:
        out = self.run("-validate", "-warning", "-a", path).decode("utf-8", "replace")
        return {line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Warning")}

    def write(self, path: Path, *assignments: str) -> None:
        out = self.run("-overwrite_original", *assignments, path).decode("utf-8", "replace")
        assert "1 image files updated" in out, out

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.write(b"-stay_open\nFalse\n")
            self._proc.stdin.flush()
        self._proc.wait(timeout=10)


# ---------------------------------------------------------------- oracle helpers


def lang_alt(packet: bytes, prop: str = "Iptc4xmpCore:AltTextAccessibility") -> dict[str, str]:
    """Parse a raw XMP packet and return the rdf:Alt entries of ``prop`` as {xml:lang: text}.

    Fails unless the property is a real Lang Alt (an rdf:Alt of rdf:li with xml:lang), i.e. not a
    plain string holding 'lang="x-default" …'."""
    text = packet.decode("utf-8")
    start, end = text.index("<x:xmpmeta"), text.index("</x:xmpmeta>") + len("</x:xmpmeta>")
    root = ET.fromstring(text[start:end])
    prefix, local = prop.split(":")
    qname = f"{{{NS[prefix]}}}{local}"
    found = list(root.iter(qname))
    assert len(found) == 1, f"{prop} occurs {len(found)} times"
    alt = found[0].find("rdf:Alt", NS)
    assert alt is not None, f"{prop} is not an rdf:Alt: {ET.tostring(found[0])!r}"
    return {li.get(XML_LANG): li.text or "" for li in alt.findall("rdf:li", NS)}


def pixels(path: Path) -> np.ndarray:
    """Decoded pixels, through the project's own decoder."""
    return np.asarray(open_image(path))


def raw_pixels(path: Path) -> tuple[str, tuple[int, int], bytes]:
    """Raw decode (no rotation or colour conversion) of the first frame."""
    with Image.open(path) as image:
        image.load()
        return image.mode, image.size, hashlib.sha256(image.tobytes()).hexdigest().encode()


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".alttext-tmp-" in p.name)


def tag_changes(before: dict[str, object], after: dict[str, object], allowed: set[str]) -> dict[str, object]:
    """Tags lost or changed between two exiftool dumps, ignoring volatile ones and ``allowed``."""
    problems: dict[str, object] = {}
    for key, value in before.items():
        if key in VOLATILE_TAGS or key in allowed:
            continue
        if key not in after:
            problems[key] = ("lost", value)
        elif after[key] != value:
            problems[key] = ("changed", value, after[key])
    return problems


# ---------------------------------------------------------------- photo builders


def _rgb(name: str, size: int | None = None) -> Image.Image:
    image = Image.fromarray(getattr(samples, name)())
    if image.mode != "RGB":
        image = image.convert("RGB")
    if size:
        image.thumbnail((size, size))
    return image


SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP_RATING = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="3"/>'
    b"</rdf:RDF></x:xmpmeta>"
)

Builder = Callable[[Path], Path]


def build_jpeg_plain(folder: Path) -> Path:
    """Pillow JPEG: JFIF only, no EXIF/XMP/IPTC."""
    path = folder / "astronaut.jpg"
    _rgb("astronaut").save(path, quality=90)
    return path


def build_jpeg_rich(folder: Path, exiftool: ExifTool) -> Path:
    """JFIF + ICC + EXIF (with boilerplate ImageDescription, GPS, an IFD1 thumbnail) + IPTC with its
    Photoshop digest + XMP + a COM comment."""
    path = folder / "chelsea.jpg"
    _rgb("chelsea").save(path, quality=88, icc_profile=SRGB)
    exiftool.write(
        path, "-Make=OLYMPUS IMAGING CORP.", "-Model=E-M5", "-ImageDescription=OLYMPUS DIGITAL CAMERA",
        "-DateTimeOriginal=2020:01:02 03:04:05", "-GPSLatitude=48.1", "-GPSLatitudeRef=N",
        "-ExifImageWidth=451", "-ExifImageHeight=300",
        "-IPTC:Keywords=cat", "-IPTC:Keywords=pet", "-IPTC:By-line=Ann Example", "-IPTC:City=Zürich",
        "-IPTC:CodedCharacterSet=UTF8",
        "-XMP-xmp:Rating=4", "-XMP-dc:Subject=cat", "-XMP-dc:Creator=Ann Example",
        "-XMP-dc:Title=Chelsea", "-Comment=a JPEG comment",
    )
    thumbnail = folder / "thumb.jpg"
    _rgb("chelsea", 160).save(thumbnail, quality=70)
    exiftool.write(path, f"-ThumbnailImage<={thumbnail}")  # an IFD1 thumbnail, as cameras write
    thumbnail.unlink()
    exiftool.write(path, "-Photoshop:IPTCDigest=new")  # as Photoshop and Lightroom leave it
    assert "Photoshop:IPTCDigest" in exiftool.tags(path)
    return path


def build_jpeg_exif_only(folder: Path, exiftool: ExifTool) -> Path:
    """EXIF (APP1) without a JFIF segment, as cameras write them."""
    path = folder / "coffee.jpg"
    exif = Image.Exif()
    exif[0x010F] = "SONY"
    exif[0x0110] = "DSC-RX100"
    exif[0x010E] = "SONY DSC"
    buffer = io.BytesIO()
    _rgb("coffee").save(buffer, format="JPEG", quality=85, exif=exif.tobytes())
    raw = buffer.getvalue()
    # Drop Pillow's JFIF APP0 segment: SOI, then APP0 (FFE0 + length).
    assert raw[2:4] == b"\xff\xe0"
    length = int.from_bytes(raw[4:6], "big")
    path.write_bytes(raw[:2] + raw[4 + length :])
    assert "JFIF:JFIFVersion" not in exiftool.tags(path)
    return path


def build_png(folder: Path) -> Path:
    path = folder / "rocket.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "made for a test")
    info.add_itxt("Description", "eine Rakete", lang="de", tkey="Beschreibung")
    info.add_text("Software", "alttext tests", zip=True)
    _rgb("rocket", 400).save(path, pnginfo=info, icc_profile=SRGB)
    return path


def build_webp_lossy(folder: Path) -> Path:
    path = folder / "lossy.webp"
    _rgb("coffee", 300).save(path, quality=80)
    return path


def build_webp_lossless(folder: Path) -> Path:
    path = folder / "lossless.webp"
    _rgb("chelsea", 300).save(path, lossless=True)
    return path


def build_webp_extended(folder: Path) -> Path:
    """VP8X with EXIF, XMP and ICC."""
    path = folder / "extended.webp"
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS R5"
    _rgb("astronaut", 300).save(path, quality=80, exif=exif.tobytes(), xmp=XMP_RATING, icc_profile=SRGB)
    return path


def build_tiff(folder: Path) -> Path:
    path = folder / "coffee.tif"
    _rgb("coffee", 300).save(path, compression="tiff_lzw", dpi=(300, 300))
    return path


def build_heic(folder: Path) -> Path:
    path = folder / "rocket.heic"
    _rgb("rocket", 300).save(path, quality=80)
    return path


FORMATS = ["jpeg_plain", "jpeg_rich", "jpeg_exif_only", "png", "webp_lossy", "webp_lossless", "webp_extended",
           "tiff", "heic"]
