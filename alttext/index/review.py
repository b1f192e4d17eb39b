"""Human review of alt text: edit, approve, and undo (docs/architecture.md §3: human text wins).

An edit never overwrites a row: it adds a caption of source ``human``, status ``edited``, which
``refresh_current_caption`` ranks above every model caption, so no later model run replaces it. Approval
marks the image's current caption ``approved``, which ranks the same way. Captions belong to images, so
an edit or approval applies to every file showing the same pixels.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, text, update

from alttext.index.captions import add_caption, refresh_current_caption
from alttext.index.db import Index
from alttext.index.models import (
    INDEXED,
    SOURCE_HUMAN,
    STATUS_APPROVED,
    STATUS_EDITED,
    STATUS_GENERATED,
    captions,
    files,
    images,
)
from alttext.paths import folder_range
from alttext.text_safety import clean_text as safe_text


class ReviewError(Exception):
    """The file can't be reviewed (not indexed, no caption); the message is for the user."""


@dataclass(frozen=True)
class Change:
    """What one edit or approval did, with what it takes to undo it."""

    kind: str  # "edit" or "approve"
    path: str
    image_id: int
    caption_id: int  # the new caption (edit) or the approved one
    previous_caption_id: int | None
    previous_status: str | None  # approve: the status before
    other_files: int  # other present files showing the same image


def clean_text(value: str) -> str:
    """Alt text is one line: collapse the whitespace a terminal or shell quoting may add, and drop control
    characters and escape sequences (text_safety). Nothing else is rewritten: a person's words are kept
    as they wrote them."""
    return " ".join(safe_text(value).split())


def _image_of(connection: Connection, path: str) -> tuple[int, int | None]:
    absolute = os.path.abspath(path)
    row = connection.execute(
        select(files.c.id, files.c.state, files.c.image_id).where(files.c.path == absolute)
    ).first()
    if row is None:
        raise ReviewError(f"{path}: not in the index (run alttext scan on its folder first)")
    if row.image_id is None:
        raise ReviewError(f"{path}: not indexed ({row.state}); nothing to review")
    caption_id = connection.execute(select(images.c.caption_id).where(images.c.id == row.image_id)).scalar()
    return int(row.image_id), caption_id


def _other_files(connection: Connection, image_id: int, path: str) -> int:
    return int(connection.execute(
        text("SELECT count(*) FROM files WHERE image_id = :image AND state = :state AND path != :path"),
        {"image": image_id, "state": INDEXED, "path": os.fsencode(os.path.abspath(path))},
    ).scalar() or 0)


def edit(index: Index, path: str, alt_text: str) -> Change:
    """Give the file's image a human-written alt text (a new caption row that becomes current)."""
    cleaned = clean_text(alt_text)
    if not cleaned:
        raise ReviewError("the alt text is empty (for a decorative image, leave alt empty in the HTML instead)")
    with index.write() as connection:
        image_id, previous = _image_of(connection, path)
        caption_id = add_caption(connection, image_id, text=cleaned, raw_text=alt_text, source=SOURCE_HUMAN,
                                 status=STATUS_EDITED)
        current = refresh_current_caption(connection, image_id)
        if current != caption_id:  # cannot happen with the ranking rule; refuse rather than mislead
            raise ReviewError(f"{path}: the edit did not become the current caption")
        return Change("edit", path, image_id, caption_id, previous, None, _other_files(connection, image_id, path))


def approve(index: Index, path: str) -> Change:
    """Mark the file's current caption approved: no model run will replace it."""
    with index.write() as connection:
        image_id, caption_id = _image_of(connection, path)
        if caption_id is None:
            raise ReviewError(f"{path}: has no alt text to approve (use alttext edit)")
        status = connection.execute(select(captions.c.status).where(captions.c.id == caption_id)).scalar()
        if status != STATUS_APPROVED:
            connection.execute(update(captions).where(captions.c.id == caption_id).values(status=STATUS_APPROVED))
            refresh_current_caption(connection, image_id)
        return Change("approve", path, image_id, caption_id, caption_id, status,
                      _other_files(connection, image_id, path))


def undo(index: Index, change: Change) -> None:
    """Reverse one change made in this session: an edit's caption row is removed (it was ours and
    new), an approval goes back to the status it replaced."""
    with index.write() as connection:
        if change.kind == "edit":
            connection.execute(delete(captions).where(captions.c.id == change.caption_id,
                                                      captions.c.source == SOURCE_HUMAN))
        elif change.previous_status is not None and change.previous_status != STATUS_APPROVED:
            connection.execute(update(captions).where(captions.c.id == change.caption_id)
                               .values(status=change.previous_status))
        refresh_current_caption(connection, change.image_id)


def undo_last(index: Index, path: str) -> str | None:
    """Reverse the newest review of the file's picture without a session's history (a browser): an
    approval goes back to unreviewed (a person's own text to "edited"), else a person's edit is removed
    and the caption before it shows again. Returns what was undone ("approve", "edit"), None if nothing."""
    with index.write() as connection:
        image_id, caption_id = _image_of(connection, path)
        if caption_id is None:
            return None
        row = connection.execute(select(captions.c.source, captions.c.status).where(captions.c.id == caption_id)).one()
        if row.status == STATUS_APPROVED:
            back = STATUS_EDITED if row.source == SOURCE_HUMAN else STATUS_GENERATED
            connection.execute(update(captions).where(captions.c.id == caption_id).values(status=back))
            undone = "approve"
        elif row.source == SOURCE_HUMAN:
            connection.execute(delete(captions).where(captions.c.id == caption_id))
            undone = "edit"
        else:
            return None
        refresh_current_caption(connection, image_id)
        return undone


@dataclass(frozen=True)
class ReviewItem:
    path: str
    name: str
    image_id: int
    caption_id: int
    alt_text: str
    source: str
    model: str | None


def review_queue(index: Index, *, under: str | None = None, page: int = 200) -> Iterator[ReviewItem]:
    """Images whose current caption nobody has reviewed (status ``generated``), one file per image (its
    first path), in path order. Read a page at a time, so items reviewed meanwhile drop out."""
    params: dict[str, object] = {"after": b"", "page": page, "status": STATUS_GENERATED}
    where = ""
    if under:
        params["lo"], params["hi"] = folder_range(under)
        where = " AND f.path >= :lo AND f.path < :hi"
    # "+f.state": walk the path index rather than the low-selectivity state index (see selection.py).
    sql = text(f"""
        SELECT f.path AS path, f.name AS name, i.id AS image_id, c.id AS caption_id, c.text AS alt_text,
               c.source AS source, c.model AS model
        FROM files f JOIN images i ON i.id = f.image_id JOIN captions c ON c.id = i.caption_id
        WHERE +f.state = 'indexed' AND f.path > :after AND c.status = :status{where}
        ORDER BY f.path
        LIMIT :page
    """)
    shown: set[int] = set()
    while True:
        with index.read() as connection:
            rows = connection.execute(sql, params).all()
        for row in rows:
            if row.image_id in shown:
                continue
            shown.add(row.image_id)
            yield ReviewItem(os.fsdecode(row.path), row.name, row.image_id, row.caption_id, row.alt_text,
                             row.source, row.model)
        if len(rows) < page:
            return
        params["after"] = bytes(rows[-1].path)


def is_unreviewed(index: Index, item: ReviewItem) -> bool:
    """Still waiting: nobody edited or approved this image since the queue listed it."""
    with index.read() as connection:
        row = connection.execute(
            select(images.c.caption_id, captions.c.status).join(captions, captions.c.id == images.c.caption_id)
            .where(images.c.id == item.image_id)
        ).first()
    return row is not None and row.caption_id == item.caption_id and row.status == STATUS_GENERATED
