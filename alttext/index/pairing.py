"""RAW+JPEG pairs: a camera RAW and the JPEG saved beside it are one photo, captioned once.

Two files pair when they sit in the same folder under the same name (the stem compared without regard
to case) and exactly one of them is RAW. They are paired by name, not by pixels: a RAW's embedded preview
is rarely pixel-identical to the camera's JPEG. A file whose partner already has a captioned image joins
that image, so both show the same caption, and a person's edit or approval (stored per image) shows on
both (docs/architecture.md §10).
"""

from __future__ import annotations

import os
from typing import NamedTuple

from sqlalchemy import Connection, and_, or_, select

from alttext.index.models import INDEXED, files, images
from alttext.raw import is_raw_name


class PairKey(NamedTuple):
    folder: str
    stem: str  # lower case
    is_raw: bool


def pair_key(path: str) -> PairKey:
    folder, name = os.path.split(path)
    return PairKey(folder, os.path.splitext(name)[0].lower(), is_raw_name(name))


def partners(one: PairKey, other: PairKey) -> bool:
    return one.folder == other.folder and one.stem == other.stem and one.is_raw != other.is_raw


def folder_has_raw(connection: Connection, folder: str) -> bool:
    """Whether the index knows any RAW file (in any state) in ``folder``: a non-RAW file looks for a
    partner only then, so libraries without RAW files pay one query per folder, not one per file."""
    names = connection.execute(select(files.c.name).where(files.c.dir == folder))
    return any(is_raw_name(name) for (name,) in names)


def captioned_partner_image(connection: Connection, path: str) -> int | None:
    """The image of an indexed, captioned partner of ``path``, or None.

    One query on the unique path index: the ranges ``folder/STEM.`` … for the stem as written, in lower
    and in upper case (cameras write one case for both files; a rename usually changes the whole name).
    """
    key = pair_key(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    ranges = []
    for variant in dict.fromkeys((stem, stem.lower(), stem.upper())):
        low = os.path.join(key.folder, variant + ".")
        ranges.append(and_(files.c.path >= low, files.c.path < os.path.join(key.folder, variant + "/")))
    rows = connection.execute(
        select(files.c.path, images.c.id)
        .join(images, images.c.id == files.c.image_id)
        .where(or_(*ranges), files.c.state == INDEXED, images.c.caption_id.is_not(None))
        .order_by(files.c.id)
    )
    for row in rows:
        if row.path != path and partners(key, pair_key(row.path)):
            return int(row.id)
    return None
