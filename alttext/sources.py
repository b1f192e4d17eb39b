"""Expanding what a user names on the command line (files, folders, URLs) into image sources."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from alttext.fetch import is_url
from alttext.images import is_image_path
from alttext.paths import display_path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """One thing to caption: a local file path or a URL. ``error`` is set when it can't even be listed."""

    location: str
    is_url: bool = False
    error: str | None = None


def walk_images(folder: str) -> Iterator[str]:
    """Image files below ``folder``, sorted per directory for stable output; hidden folders skipped.
    Links to folders are not followed (docs/architecture.md §10); the walk names them in one line."""
    links: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        links.extend(os.path.join(root, d) for d in dirs if os.path.islink(os.path.join(root, d)))
        for name in sorted(files):
            if is_image_path(name):
                yield os.path.join(root, name)
    if links:
        logger.warning("%s: not followed: %d link(s) to folders (%s); a link can lead outside the folder or"
                       " loop, so name its target to caption it", display_path(folder), len(links),
                       ", ".join(display_path(link) for link in links[:5]) + (" …" if len(links) > 5 else ""))


def expand_sources(arguments: Iterable[str]) -> Iterator[Source]:
    for argument in arguments:
        if is_url(argument):
            yield Source(argument, is_url=True)
        elif os.path.isdir(argument):
            for path in walk_images(argument):
                yield Source(path)
        elif os.path.lexists(argument):
            yield Source(argument)  # named explicitly: tried even without an image extension
        else:
            yield Source(argument, error="no such file or folder")
