"""Writing HEIC/HEIF/AVIF through exiftool, which libexiv2 can read but not write.

alttext still decides and builds the XMP with exiv2 (so the Lang Alt structure and its marks are the
same as everywhere else) and hands exiftool the finished packet with ``-XMP<=file``; exiftool only
puts it into the container. Values travel in files, never on the command line, so any text is safe.
exiftool edits alttext's temp copy with ``-overwrite_original_in_place``, which keeps the temp file's
inode and with it alttext's lock.

exiftool is also the independent reader that checks every rewrite (:func:`xmp_tags`): one process kept
running (``-stay_open``) answers those reads, since starting Perl for each would cost ~0.1 s twice a file.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
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


class _StayOpen:
    """One exiftool process reading its arguments from stdin (``-stay_open True -@ -``); each request
    ends with a numbered ``-execute`` whose ``{readyN}`` marker closes the answer on stdout."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._count = 0

    def run(self, args: list[str]) -> bytes:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            assert self._proc is not None and self._proc.stdin is not None and self._proc.stdout is not None
            self._count += 1
            marker = f"{{ready{self._count}}}\n".encode()
            request = b"".join(os.fsencode(a) + b"\n" for a in [*args, f"-execute{self._count}"])
            try:
                self._proc.stdin.write(request)
                self._proc.stdin.flush()
                return self._answer(self._proc.stdout.fileno(), marker)
            except (OSError, ExiftoolError) as exc:
                self._stop()  # a half-read answer would be taken for the next one
                if isinstance(exc, ExiftoolError):
                    raise
                raise ExiftoolError(f"exiftool stopped: {exc.strerror or exc}") from exc

    def _start(self) -> None:
        exe = exiftool_path()
        if exe is None:
            raise ExiftoolError("exiftool is not installed")
        try:
            self._proc = subprocess.Popen([exe, "-stay_open", "True", "-@", "-"], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError as exc:
            raise ExiftoolError(f"cannot run exiftool: {exc.strerror or exc}") from exc

    @staticmethod
    def _answer(fd: int, marker: bytes) -> bytes:
        deadline = time.monotonic() + TIMEOUT_S
        out = bytearray()
        while not out.endswith(marker):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ExiftoolError(f"exiftool took longer than {TIMEOUT_S} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise ExiftoolError("exiftool stopped unexpectedly")
            out += chunk
        return bytes(out[: -len(marker)])

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.write(b"-stay_open\nFalse\n")
            proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def close(self) -> None:
        with self._lock:
            self._stop()

    def forget(self) -> None:
        """In a forked child: the process belongs to the parent; start another when needed."""
        self._proc = None
        self._lock = threading.Lock()


_reader = _StayOpen()
atexit.register(_reader.close)
os.register_at_fork(after_in_child=_reader.forget)

# exiftool's -j output, values unconverted (-n), duplicates kept (-a), grouped by namespace (-G1).
_XMP_ARGS = ["-j", "-G1", "-a", "-n", "-XMP:All"]


def _merge_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # With -a a tag can occur twice under one name (two packets); keep every value.
    merged: dict[str, object] = {}
    for key, value in pairs:
        if key in merged:
            previous = merged[key]
            merged[key] = (*previous, value) if isinstance(previous, tuple) else (previous, value)
        else:
            merged[key] = value
    return merged


def xmp_tags(path: str) -> dict[str, object]:
    """Every XMP tag exiftool finds in the file at ``path``: {"XMP-dc:Description-en": value, ...}.

    Structures come flattened (``XMP-xmpBJ:JobRefName``), lists as lists."""
    name = os.path.abspath(path)  # absolute: never taken for an option, no leading blanks
    # A name with a line break cannot travel in -stay_open's one-argument-per-line requests.
    out = _run_once(name) if "\n" in name or "\r" in name else _reader.run([*_XMP_ARGS, name])
    try:
        (info,) = json.loads(out.decode("utf-8", "replace"), object_pairs_hook=_merge_duplicates)
    except ValueError as exc:
        raise ExiftoolError("exiftool could not read the file") from exc
    return {k: v for k, v in info.items() if k.startswith("XMP-")}


def _run_once(path: str) -> bytes:
    exe = exiftool_path()
    if exe is None:
        raise ExiftoolError("exiftool is not installed")
    try:
        with open(path, "rb") as stream:
            done = subprocess.run([exe, *_XMP_ARGS, "-"], stdin=stream, capture_output=True, timeout=TIMEOUT_S,
                                  check=False)
    except subprocess.TimeoutExpired as exc:
        raise ExiftoolError(f"exiftool took longer than {TIMEOUT_S} s") from exc
    except OSError as exc:
        raise ExiftoolError(f"cannot run exiftool: {exc.strerror or exc}") from exc
    return done.stdout
