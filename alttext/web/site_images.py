"""From an ``<img>`` URL in a page to the alt text the index has for that picture.

A link resolves like a static web server would: relative to the page (or its <base href>), or, when it
starts with '/', to the site root. Only files inside the folders the user named are looked at: a link
that leads outside them (``../private/x.jpg``, or a symlink to elsewhere) finds nothing, so a caption of
a photo outside the site is never published into it (README, "Symlinks"). If that file is indexed,
its image's current caption is used. If it is not (the site holds an exported copy, a file the scan never
saw), it is looked up by its image key (docs/architecture.md §2; by its decoded pixels for an image indexed
before migration 0006), so the same picture indexed elsewhere, with other metadata or none, still gives its
alt text.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlsplit

from alttext.images import ImageError, is_image_path, open_image
from alttext.index.captions import reviewed_by_person
from alttext.index.db import Index
from alttext.index.fingerprint import fingerprint_file, pixel_hash
from alttext.index.queries import current_caption_by_path, current_caption_by_pixels
from alttext.paths import is_under_any
from alttext.text_safety import clean_text

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caption:
    alt_text: str
    status: str
    source: str
    image_path: str  # the site file the link resolved to
    matched_by: str  # "path" or "pixels"

    @property
    def reviewed(self) -> bool:
        return reviewed_by_person(self.source, self.status)


def real_roots(*folders: str | None) -> tuple[str, ...]:
    """The folders as they are on disk (symlinks resolved), for :func:`inside`."""
    return tuple(dict.fromkeys(os.path.realpath(folder) for folder in folders if folder))


def inside(path: str, roots: tuple[str, ...]) -> bool:
    """``path``, with every symlink followed, is in one of ``roots`` (from :func:`real_roots`)."""
    return is_under_any(os.path.realpath(path), roots)


def resolve_link(link: str, page_path: str, site_root: str, base: str | None = None) -> str | None:
    """The local file a link points to, or None for external, data: and empty links.

    ``base`` is the page's <base href> (only its path part is used, and only when it is local)."""
    link = link.strip()
    if not link or link.startswith("//"):
        return None
    parts = urlsplit(link)
    if parts.scheme or parts.netloc:  # http:, https:, data:, javascript:... not a file of this site
        return None
    raw_path = os.fsdecode(unquote_to_bytes(parts.path))
    if not raw_path:
        return None
    page_dir = os.path.dirname(os.path.abspath(page_path))
    if base:
        base_parts = urlsplit(base.strip())
        if not base_parts.scheme and not base_parts.netloc and base_parts.path:
            base_path = os.fsdecode(unquote_to_bytes(base_parts.path))
            base_dir = base_path if base_path.endswith("/") else os.path.dirname(base_path) + "/"
            page_dir = (os.path.join(site_root, base_dir.lstrip("/")) if base_dir.startswith("/")
                        else os.path.join(page_dir, base_dir))
    if raw_path.startswith("/"):
        candidate = os.path.join(os.path.abspath(site_root), raw_path.lstrip("/"))
    else:
        candidate = os.path.join(page_dir, raw_path)
    return os.path.normpath(candidate)


def srcset_urls(value: str) -> list[str]:
    """The URLs of a srcset, in order ("a.jpg 1x, b.jpg 2x" -> [a.jpg, b.jpg]). A URL may contain
    commas; candidates are separated by a comma after whitespace-free URL text, per the standard."""
    urls = []
    i, length = 0, len(value)
    while i < length:
        while i < length and (value[i].isspace() or value[i] == ","):
            i += 1
        start = i
        while i < length and not value[i].isspace():
            i += 1
        url = value[start:i]
        if url.endswith(","):
            url = url.rstrip(",")
        else:  # skip the descriptor up to the next comma
            while i < length and value[i] != ",":
                i += 1
        if url:
            urls.append(url)
    return urls


class CaptionLookup:
    """Alt text by file path or by pixels, cached per resolved file (a logo appears on every page)."""

    def __init__(self, index: Index, *, max_pixels: int) -> None:
        self.index = index
        self.max_pixels = max_pixels
        self._cache: dict[str, Caption | None] = {}
        self.hashed = 0  # images decoded for a pixel lookup

    def _by_path(self, path: str) -> Caption | None:
        row = current_caption_by_path(self.index, path)
        return Caption(clean_text(row.alt_text), row.status, row.source, path, "path") if row else None

    def _by_pixels(self, path: str) -> Caption | None:
        if not is_image_path(path) or not os.path.isfile(path):
            return None
        try:
            # The image key first: for JPEG/PNG/WebP it needs no decode (docs/architecture.md §2).
            key = fingerprint_file(path, max_pixels=self.max_pixels, is_known=lambda _key: True).content_hash
            row = current_caption_by_pixels(self.index, key)
            if row is None:  # an image indexed before migration 0006 is found by its decoded pixels
                digest = pixel_hash(open_image(path, max_pixels=self.max_pixels))
                row = current_caption_by_pixels(self.index, digest) if digest != key else None
        except ImageError as exc:
            logger.info("%s: cannot decode for a pixel lookup: %s", path, exc)
            return None
        self.hashed += 1
        return Caption(clean_text(row.alt_text), row.status, row.source, path, "pixels") if row else None

    def caption_for(self, path: str) -> Caption | None:
        if path not in self._cache:
            found = self._by_path(path)
            if found is None:
                real = os.path.realpath(path)  # a symlinked image folder: the index knows the target
                if real != path:
                    found = self._by_path(real)
            self._cache[path] = found if found is not None else self._by_pixels(path)
        return self._cache[path]
