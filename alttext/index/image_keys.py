"""Finding and making the ``images`` row of a fingerprint, by content key and, for older rows, by pixels.

docs/architecture.md §2: an image made before migration 0006 is keyed by its pixel hash alone until
its content key is known; a fingerprint that carries a pixel hash finds it that way and gives it the key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update

from alttext.index.fingerprint import Fingerprint
from alttext.index.models import images, inserted_id, utcnow


def find_image(connection: Connection, fingerprint: Fingerprint) -> Any | None:
    """The row (``id``, ``caption_id``, ``content_hash``) of the fingerprint's image, or None."""
    columns = (images.c.id, images.c.caption_id, images.c.content_hash)
    row = connection.execute(select(*columns).where(images.c.content_hash == fingerprint.content_hash)).first()
    if row is None and fingerprint.pixel_hash is not None:
        row = connection.execute(select(*columns).where(images.c.pixel_hash == fingerprint.pixel_hash)).first()
    return row


def image_id_for(connection: Connection, fingerprint: Fingerprint) -> int:
    """The fingerprint's image id, made if new; an older image found by its pixels gets the content key."""
    row = find_image(connection, fingerprint)
    if row is not None:
        if row.content_hash is None:
            key = fingerprint.content_hash
            connection.execute(update(images).where(images.c.id == row.id).values(content_hash=key))
        return int(row.id)
    return inserted_id(
        connection.execute(
            insert(images).values(
                pixel_hash=fingerprint.pixel_hash or fingerprint.content_hash,
                content_hash=fingerprint.content_hash,
                width=fingerprint.width, height=fingerprint.height, created_at=utcnow(),
            )
        )
    )


def is_captioned(connection: Connection, content_hash: str) -> bool:
    """Whether the image with this content key exists and has a caption (so its pixels aren't needed)."""
    return connection.execute(
        select(images.c.id).where(images.c.content_hash == content_hash, images.c.caption_id.is_not(None))
    ).first() is not None
