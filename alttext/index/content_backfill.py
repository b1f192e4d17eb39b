"""Give the images of an older index their content key, without decoding or re-captioning anything.

Migration 0006 leaves ``images.content_hash`` NULL for images keyed by their pixels. A file whose stat
tuple still equals the one stored when it was decoded has the same bytes, so hashing those bytes gives
its image's content key: one read per image, once, no decode (docs/architecture.md §2). Images with no
such file keep a NULL key; ingest then also hashes the pixels of new files so that one of them coming
back still finds its caption.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select, update

from alttext.images import ImageError, read_header
from alttext.index.content_hash import picture_data_hash
from alttext.index.db import Index
from alttext.index.fingerprint import FileChanging, content_key, read_bytes
from alttext.index.models import INDEXED, files, images

logger = logging.getLogger(__name__)

CHUNK = 256


def has_unkeyed_images(index: Index) -> bool:
    with index.read() as connection:
        unkeyed = select(images.c.id).where(images.c.content_hash.is_(None)).limit(1)
        return connection.execute(unkeyed).first() is not None


def _key_of_unchanged(path: str, stored: tuple[int, int, int, int], pixel_hash: str) -> str | None:
    try:
        data, stat = read_bytes(path)
    except (ImageError, FileChanging):
        return None
    if (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns) != stored:
        return None  # changed since it was decoded: a rescan reads it as a new file
    picture = picture_data_hash(data)
    if picture is None:  # a format keyed by pixels: the stored pixel hash is its key already
        return pixel_hash
    try:
        return content_key(picture, read_header(data).orientation)
    except ImageError:
        return None


def backfill_content_hashes(index: Index, *, should_stop: Callable[[], bool] = lambda: False) -> int:
    """Key every image that has none from one unchanged file of it; returns how many were keyed."""
    keyed = 0
    after = 0
    while not should_stop():
        with index.read() as connection:
            rows = connection.execute(
                select(images.c.id, images.c.pixel_hash, files.c.path, files.c.dev, files.c.inode, files.c.size,
                       files.c.mtime_ns)
                .join(files, files.c.image_id == images.c.id)
                .where(images.c.content_hash.is_(None), files.c.state == INDEXED, images.c.id > after)
                .order_by(images.c.id).limit(CHUNK)
            ).all()
        if not rows:
            break
        after = rows[-1].id
        done: set[int] = set()
        for row in rows:
            if row.id in done or should_stop():
                continue
            key = _key_of_unchanged(row.path, (row.dev, row.inode, row.size, row.mtime_ns), row.pixel_hash)
            if key is None:
                continue
            with index.write() as connection:
                taken = connection.execute(select(images.c.id).where(images.c.content_hash == key)).first()
                if taken is None:
                    connection.execute(update(images).where(images.c.id == row.id, images.c.content_hash.is_(None))
                                       .values(content_hash=key))
                    keyed += 1
            done.add(row.id)
    if keyed:
        logger.info("gave %d images of an older index their content key", keyed)
    return keyed
