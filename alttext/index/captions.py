"""Storing captions and choosing the one an image shows (docs/architecture.md §3: human text wins).

Every caption is kept (a new model adds a row, it never overwrites). The image's current caption is
the best by: approved or human-written > imported from the file's metadata > newest model caption.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, case, insert, literal_column, or_, select, update

from alttext.index.models import (
    SOURCE_HUMAN,
    SOURCE_METADATA,
    STATUS_APPROVED,
    STATUS_EDITED,
    STATUS_GENERATED,
    captions,
    images,
    inserted_id,
    utcnow,
)

# Portable SQL for what a picture says beyond its alt text: SQLAlchemy-free, for show and search (§6).
from alttext.index.picture_text import picture_text_sql as picture_text_sql

# A person wrote it (edit) or signed it off (approve): no model run replaces it, and write-back may
# replace a person's text in a photo only with such a caption.
REVIEWED_STATUSES = (STATUS_APPROVED, STATUS_EDITED)


def reviewed_by_person(source: str | None, status: str | None) -> bool:
    return source == SOURCE_HUMAN or status in REVIEWED_STATUSES


_REVIEWED = or_(captions.c.status.in_(REVIEWED_STATUSES), captions.c.source == SOURCE_HUMAN)  # the same, in SQL
_RANK = case(
    (_REVIEWED, 3),
    (captions.c.source == SOURCE_METADATA, 2),
    else_=1,
)


def refresh_current_caption(connection: Connection, image_id: int) -> int | None:
    """Point the image at its best caption, and at the caption whose long description it has (the best's
    own, else the newest); returns the best caption's id."""
    best = connection.execute(
        select(captions.c.id)
        .where(captions.c.image_id == image_id)
        .order_by(_RANK.desc(), captions.c.created_at.desc(), captions.c.id.desc())
        .limit(1)
    ).scalar()
    described = connection.execute(  # '' as a literal: SQLite then uses the partial index ix_captions_described
        select(captions.c.id)
        .where(captions.c.image_id == image_id, captions.c.description != literal_column("''"))
        .order_by((captions.c.id == (best or 0)).desc(), captions.c.created_at.desc(), captions.c.id.desc())
        .limit(1)
    ).scalar()
    current = connection.execute(select(images.c.caption_id, images.c.description_id)
                                 .where(images.c.id == image_id)).first()
    changed: dict[str, int | None] = {}
    if current is None or current.caption_id != best:
        changed["caption_id"] = best
    if current is None or current.description_id != described:
        changed["description_id"] = described  # alone: an update naming caption_id refreshes the search row
    if changed:
        connection.execute(update(images).where(images.c.id == image_id).values(**changed))
    return best


def add_caption(
    connection: Connection,
    image_id: int,
    *,
    text: str,
    raw_text: str | None,
    source: str,
    model: str | None = None,
    model_revision: str | None = None,
    params: dict[str, Any] | None = None,
    status: str = STATUS_GENERATED,
    description: str | None = None,
    image_text: str | None = None,
) -> int:
    caption_id = inserted_id(connection.execute(
        insert(captions).values(
            image_id=image_id, text=text, raw_text=raw_text, source=source, model=model,
            model_revision=model_revision, params=params, status=status, created_at=utcnow(),
            description=description, image_text=image_text,
        )
    ))
    refresh_current_caption(connection, image_id)
    return caption_id
