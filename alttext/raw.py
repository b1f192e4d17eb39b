"""Camera RAW files: which names are RAW, and reading the JPEG preview every camera embeds in one.

alttext never develops RAW data: the model sees the preview the camera (or converter) stored, which is
what the photographer saw on the camera's screen. The preview comes from rawpy (a dependency; its wheels
bundle LibRaw) when it is installed, otherwise from exiftool when that is on the PATH; with
neither, a RAW file fails with one line saying what to install. The preview's bytes are decoded by
:func:`alttext.images.open_image` under the same pixel limit as any image, and turned upright with the
orientation of the RAW itself (a preview's own tags are not always written). See docs/architecture.md §10.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

RAW_EXTENSIONS = frozenset(
    {
        ".3fr", ".ari", ".arw", ".bay", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".fff", ".gpr",
        ".iiq", ".k25", ".kdc", ".mef", ".mos", ".mrw", ".nef", ".nrw", ".orf", ".pef", ".ptx", ".raf",
        ".raw", ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".x3f",
    }
)

# LibRaw's `flip` (0, 3, 5, 6) as the EXIF orientation it stands for.
_LIBRAW_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}
# exiftool's names for embedded previews, largest first in the usual camera layouts.
_EXIFTOOL_PREVIEW_TAGS = ("JpgFromRaw", "PreviewImage", "OtherImage")
EXIFTOOL_TIMEOUT_S = 60


class RawError(Exception):
    """A RAW file whose preview cannot be read; the message is one line for the user."""


@dataclass(frozen=True)
class Preview:
    """An embedded preview: encoded bytes (usually JPEG) or, from LibRaw, an already decoded RGB array."""

    data: bytes | np.ndarray
    orientation: int  # EXIF orientation 1-8 of the RAW file


def is_raw_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in RAW_EXTENSIONS


def reader_name() -> str | None:
    """Which reader this installation uses for RAW previews ("rawpy" or "exiftool"), or None."""
    try:
        import rawpy  # noqa: F401
    except ImportError:
        return "exiftool" if shutil.which("exiftool") else None
    return "rawpy"


def read_preview(path: str) -> Preview:
    """The largest embedded preview of the RAW file at ``path``."""
    reader = reader_name()
    if reader == "rawpy":
        return _read_with_rawpy(path)
    if reader == "exiftool":
        return _read_with_exiftool(path)
    raise RawError("cannot read RAW files: install rawpy (pip install rawpy) or exiftool")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _read_with_rawpy(path: str) -> Preview:
    import rawpy

    try:
        with rawpy.imread(path) as raw:
            flip = int(raw.sizes.flip)
            thumb = raw.extract_thumb()  # LibRaw picks the largest preview the file holds
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError) as exc:
        raise RawError("the RAW file holds no preview alttext can read") from exc
    except rawpy.LibRawFileUnsupportedError as exc:
        raise RawError("not a RAW file LibRaw can read (damaged, or an unsupported camera)") from exc
    except MemoryError as exc:
        raise RawError("not enough memory to read the RAW file") from exc
    except Exception as exc:  # LibRawIOError, LibRawDataError, …: this file is bad, never the run
        raise RawError(f"cannot read RAW file: {_one_line(exc)}") from exc
    orientation = _LIBRAW_FLIP_TO_ORIENTATION.get(flip, 1)
    if thumb.format == rawpy.ThumbFormat.JPEG:
        return Preview(bytes(thumb.data), orientation)
    return Preview(np.asarray(thumb.data), orientation)  # ThumbFormat.BITMAP: uncompressed RGB


def _read_with_exiftool(path: str) -> Preview:
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        raise RawError("cannot read RAW files: exiftool is no longer on the PATH")
    command = [exiftool, "-json", "-binary", "-n", "-Orientation",
               *(f"-{tag}" for tag in _EXIFTOOL_PREVIEW_TAGS), "--", path]
    try:
        done = subprocess.run(command, capture_output=True, timeout=EXIFTOOL_TIMEOUT_S, check=False)
        record = json.loads(done.stdout or b"[{}]")[0]
    except subprocess.TimeoutExpired as exc:
        raise RawError("exiftool took too long to read the RAW file") from exc
    except (OSError, ValueError, IndexError) as exc:
        raise RawError(f"exiftool could not read the RAW file: {_one_line(exc)}") from exc
    previews = []
    for tag in _EXIFTOOL_PREVIEW_TAGS:
        value = record.get(tag)
        if isinstance(value, str) and value.startswith("base64:"):
            previews.append(base64.b64decode(value[len("base64:"):]))
    if not previews:
        raise RawError("the RAW file holds no preview alttext can read")
    orientation = record.get("Orientation")
    return Preview(max(previews, key=len), orientation if isinstance(orientation, int) else 1)
