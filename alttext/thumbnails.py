"""Small JPEG versions of photos, made on demand and kept in a bounded folder.

Keyed by the image's identity (its pixel hash) and the size, so every copy of a picture shares one
thumbnail and an edited picture gets a new one. The folder has a size cap: when a new thumbnail takes
it over, the least recently used ones go first (a hit touches the file's mtime, so the order survives
restarts). Thumbnails are written to a temporary name and renamed, so a reader never sees half of one.
A photo is decoded by the same safe decoder as captioning (decompression-bomb limit, draft decoding
for JPEG), never trusted to a browser.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from PIL import Image

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[0-9a-f]{16,128}-\d{1,5}\.jpg$")
JPEG_QUALITY = 82


def render_jpeg(image: Image.Image, size: int) -> bytes:
    """``image`` shrunk to fit ``size`` x ``size`` (never enlarged), as a JPEG."""
    picture = image if image.mode == "RGB" else image.convert("RGB")
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


class ThumbnailCache:
    def __init__(self, folder: str | os.PathLike[str], max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = max(0, max_bytes)
        self._lock = threading.Lock()
        self._total: int | None = None  # bytes in the folder, counted on first use

    def path_for(self, key: str, size: int) -> Path:
        return self.folder / f"{key}-{size}.jpg"

    def get(self, key: str, size: int, make: Callable[[], Image.Image]) -> bytes:
        """The cached thumbnail, or ``make()``'s picture rendered, stored and returned. ``make`` raises
        what the decoder raises (the caller reports it)."""
        if not re.fullmatch(r"[0-9a-f]{16,128}", key):
            raise ValueError(f"not an image key: {key!r}")
        path = self.path_for(key, size)
        try:
            data = path.read_bytes()
        except OSError:
            pass
        else:
            with contextlib.suppress(OSError):
                os.utime(path)  # most recently used
            return data
        data = render_jpeg(make(), size)
        self._store(path, data)
        return data

    def _store(self, path: Path, data: bytes) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.folder, prefix=".tmp-", delete=False) as stream:
                stream.write(data)
            os.replace(stream.name, path)
        except OSError as exc:  # a full or read-only disk: serve the thumbnail uncached
            logger.warning("cannot cache a thumbnail in %s: %s", self.folder, exc.strerror or exc)
            return
        with self._lock:
            self._total = (self._count() if self._total is None else self._total) + len(data)
            if self._total > self.max_bytes:
                self._evict()

    def _entries(self) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(self.folder) as entries:
                return [entry for entry in entries if _NAME.match(entry.name) and entry.is_file()]
        except OSError:
            return []

    def _count(self) -> int:
        return sum(entry.stat().st_size for entry in self._entries())

    def _evict(self) -> None:
        """Oldest first until the folder is back at 90 % of the cap (one sweep serves many inserts)."""
        entries = sorted(self._entries(), key=lambda entry: entry.stat().st_mtime_ns)
        total = sum(entry.stat().st_size for entry in entries)
        target = int(self.max_bytes * 0.9)
        for entry in entries:
            if total <= target:
                break
            try:
                size = entry.stat().st_size
                os.unlink(entry.path)
                total -= size
            except OSError:
                continue
        self._total = total
