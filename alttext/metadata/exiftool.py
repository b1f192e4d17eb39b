"""Writing HEIC/HEIF/AVIF through exiftool, which libexiv2 can read but not write.

alttext still decides and builds the XMP with exiv2 (so the Lang Alt structure and its marks are the
same as everywhere else) and hands exiftool the finished packet with ``-XMP<=file``; exiftool only
puts it into the container. Values travel in files, never on the command line, so any text is safe.
exiftool edits alttext's temp copy with ``-overwrite_original_in_place``, which keeps the temp file's
inode and with it alttext's lock.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

TIMEOUT_S = 120


class ExiftoolError(Exception):
    """exiftool failed; one line for the user."""


def exiftool_path() -> str | None:
    return shutil.which("exiftool")


@dataclass(frozen=True)
class Extracted:
    """What exiftool finds in a file: the raw XMP packet, the raw EXIF (a TIFF blob) and the names of
    all tags ("Group1:Tag") for a before/after comparison."""

    xmp: bytes | None
    exif: bytes | None
    tags: frozenset[str]


# Groups whose tags describe the file system or are computed, not stored metadata.
_VOLATILE_GROUPS = ("SourceFile", "ExifTool:", "System:", "Composite:")


def _binary(value: object) -> bytes | None:
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("base64:"):
        return base64.b64decode(value[len("base64:") :])
    return value.encode("utf-8")


def extract(data: bytes) -> Extracted:
    """Read ``data`` (the file's bytes, passed on stdin) with exiftool."""
    exe = exiftool_path()
    if exe is None:
        raise ExiftoolError("exiftool is not installed")
    args = [exe, "-j", "-G1", "-a", "-b", "-All:All", "-XMP", "-EXIF", "-"]
    try:
        done = subprocess.run(args, input=data, capture_output=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ExiftoolError(f"exiftool took longer than {TIMEOUT_S} s") from exc
    except OSError as exc:
        raise ExiftoolError(f"cannot run exiftool: {exc.strerror or exc}") from exc
    try:
        (info,) = json.loads(done.stdout.decode("utf-8", "replace"))
    except ValueError as exc:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ExiftoolError(f"exiftool could not read the file: {message[0] if message else exc}") from exc
    tags = frozenset(k for k in info if not k.startswith(_VOLATILE_GROUPS) and k not in ("XMP:XMP", "EXIF:EXIF"))
    return Extracted(_binary(info.get("XMP:XMP")), _binary(info.get("EXIF:EXIF")), tags)


def write(path: str, *, xmp_packet: str | None = None, image_description: str | None = None) -> None:
    """Write the whole XMP packet and/or EXIF ImageDescription into ``path`` in place."""
    exe = exiftool_path()
    if exe is None:
        raise ExiftoolError("exiftool is not installed")
    with tempfile.TemporaryDirectory(prefix="alttext-exiftool-") as work:
        args = [exe, "-q", "-overwrite_original_in_place"]
        if xmp_packet is not None:
            packet = os.path.join(work, "packet.xmp")
            with open(packet, "w", encoding="utf-8") as stream:
                stream.write(xmp_packet)
            args.append(f"-XMP<={packet}")
        if image_description is not None:
            value = os.path.join(work, "description.txt")
            with open(value, "wb") as stream:
                stream.write(image_description.encode("utf-8"))
            args.append(f"-IFD0:ImageDescription<={value}")
        args.append(os.path.abspath(path))  # absolute: a name starting with "-" is not an option
        try:
            done = subprocess.run(args, capture_output=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL,
                                  check=False)
        except subprocess.TimeoutExpired as exc:
            raise ExiftoolError(f"exiftool took longer than {TIMEOUT_S} s") from exc
        except OSError as exc:
            raise ExiftoolError(f"cannot run exiftool: {exc.strerror or exc}") from exc
    output = (done.stderr or b"").decode("utf-8", "replace").strip()
    if done.returncode != 0:  # whatever it managed to write is checked by the caller anyway
        first = next((line for line in output.splitlines() if line.strip()), f"exit status {done.returncode}")
        raise ExiftoolError(f"exiftool: {first.strip()}")
