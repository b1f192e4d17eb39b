"""RAW files built by the tests (a plain module, importable from any test folder).

- :func:`write_dng`: a DNG written by tifffile: the raw Bayer data in a SubIFD, an uncompressed RGB preview in
  IFD0 (what LibRaw hands back as a decoded bitmap);
- :func:`write_jpeg_in_raw`: the layout of NEF/CR2/DNG files from cameras: the preview is a JPEG stream that
  a ``JPEGInterchangeFormat`` pointer (tag 513) leads to, in a SubIFD of its own. tifffile cannot write a
  pointer to bytes it places itself, so the JPEG is stored in a private tag and the pointer patched to it.

Both are read through the real LibRaw (rawpy) or exiftool: nothing is mocked.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

_DNG_TAGS = [(50706, "B", 4, (1, 4, 0, 0), True), (50708, "s", 0, "alttext test camera", True)]
_CFA_TAGS = [(33421, "H", 2, (2, 2), True), (33422, "B", 4, (0, 1, 1, 2), True), (50717, "I", 1, 4095, True)]
_PRIVATE_BLOB_TAG = 65000


def _bayer(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4000, (64, 96)).astype(np.uint16)


def write_dng(path: Path, preview: Image.Image, *, orientation: int = 1) -> Path:
    """A DNG whose IFD0 is ``preview`` uncompressed, with the RAW's orientation tag ``orientation``."""
    with tifffile.TiffWriter(path) as writer:
        writer.write(np.asarray(preview.convert("RGB")), metadata=None, photometric="rgb", subfiletype=1, subifds=1,
                     extratags=[*_DNG_TAGS, (274, "H", 1, orientation, True)])
        writer.write(_bayer(), metadata=None, photometric=32803, subfiletype=0, extratags=_CFA_TAGS)
    return path


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def write_jpeg_in_raw(path: Path, preview: Image.Image, *, orientation: int = 1) -> Path:
    """A TIFF-based RAW (DNG tags, Bayer SubIFD) whose preview is ``preview`` as an embedded JPEG stream."""
    jpeg = jpeg_bytes(preview)
    with tifffile.TiffWriter(path) as writer:
        writer.write(np.zeros((6, 8, 3), np.uint8), metadata=None, photometric="rgb", subfiletype=1, subifds=2,
                     extratags=[*_DNG_TAGS, (274, "H", 1, orientation, True)])
        writer.write(_bayer(), metadata=None, photometric=32803, subfiletype=0, extratags=_CFA_TAGS)
        writer.write(np.zeros((1, 1), np.uint8), metadata=None, photometric="minisblack", subfiletype=1,
                     extratags=[(513, "I", 1, 0, True), (514, "I", 1, len(jpeg), True),
                                (_PRIVATE_BLOB_TAG, "B", len(jpeg), jpeg, True)])
    with tifffile.TiffFile(path) as tiff:
        preview_ifd = tiff.pages[0].pages[1]  # type: ignore[index, union-attr]  # the second SubIFD
        blob_at = preview_ifd.tags[_PRIVATE_BLOB_TAG].valueoffset
        pointer_at = preview_ifd.tags[513].valueoffset
        bits_entry_at = preview_ifd.tags[258].offset
    with open(path, "r+b") as file:
        file.seek(pointer_at)
        file.write(struct.pack("<I", blob_at))
        # Camera preview IFDs carry no BitsPerSample: LibRaw then reads the size from the JPEG itself.
        file.seek(bits_entry_at)
        file.write(struct.pack("<H", 65001))
    return path
