"""Uploads waiting for "Add to library": kept in a private temporary folder, by a random id, for an hour.

Nothing a person uploads to be captioned is kept unless they ask: the folder is removed when the app
stops, and each upload an hour after it came (or as soon as it is added to the library).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass

KEEP_SECONDS = 3600


@dataclass(frozen=True)
class Pending:
    name: str
    path: str
    stored_at: float


class UploadStore:
    def __init__(self, keep_seconds: float = KEEP_SECONDS) -> None:
        self.keep_seconds = keep_seconds
        self._folder: str | None = None
        self._items: dict[str, Pending] = {}
        self._lock = threading.Lock()

    def _dir(self) -> str:
        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="alttext-uploads-")  # mode 0700
        return self._folder

    def put(self, name: str, data: bytes) -> str:
        """Keep ``data`` for a while; returns its id."""
        key = secrets.token_urlsafe(16)
        with self._lock:
            self._expire()
            path = os.path.join(self._dir(), key)
            with open(path, "wb") as handle:
                handle.write(data)
            self._items[key] = Pending(name, path, time.monotonic())
        return key

    def take(self, key: str) -> tuple[str, bytes] | None:
        """The upload's name and bytes, removed from the store; None when unknown or expired."""
        with self._lock:
            self._expire()
            item = self._items.pop(key, None)
            if item is None:
                return None
            try:
                with open(item.path, "rb") as handle:
                    data = handle.read()
            finally:
                _remove(item.path)
        return item.name, data

    def _expire(self) -> None:
        now = time.monotonic()
        for key, item in list(self._items.items()):
            if now - item.stored_at > self.keep_seconds:
                del self._items[key]
                _remove(item.path)

    def close(self) -> None:
        with self._lock:
            self._items.clear()
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
                self._folder = None


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
