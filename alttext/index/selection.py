"""Walking the indexed files with their current caption, in path order, a page at a time.

Lint, export and review all need "every present file below FOLDER with its alt text". Pages are read
by keyset (path > last path) in short read transactions, so a million-file index streams in constant
memory and never holds a read snapshot open while a scan writes. Paths are compared as raw bytes (see
models.FsPath), which is also the deterministic order exports promise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alttext.index.db import Index
from alttext.index.picture_text import picture_text_sql
from alttext.paths import folder_range

if TYPE_CHECKING:
    from sqlalchemy import Select

PAGE = 1000


def named(query: Select[Any], path: str) -> tuple[Select[Any], bool]:
    """``query`` narrowed to what a person names on a command line: the file itself, or every file below a
    folder (by the raw-byte path range); also whether it named a folder."""
    from alttext.index.models import files  # SQLAlchemy: only the Core queries need it, not file_filters

    absolute = os.path.abspath(path)
    if os.path.isdir(absolute):
        low, high = folder_range(absolute)
        return query.where(files.c.path >= low, files.c.path < high), True
    return query.where(files.c.path == absolute), False


def file_filters(under: str | None, status: str | None) -> tuple[list[str], dict[str, object]]:
    """SQL conditions (on files ``f`` and captions ``c``) and their parameters for --under and --status."""
    filters: list[str] = []
    params: dict[str, object] = {}
    if under:
        params["lo"], params["hi"] = folder_range(under)
        filters.append("f.path >= :lo AND f.path < :hi")
    if status:
        params["status"] = status
        filters.append("c.status = :status")
    return filters, params


@dataclass(frozen=True)
class Entry:
    file_id: int
    path: str
    name: str
    image_id: int | None
    caption_id: int | None
    alt_text: str | None  # None: the file has no caption (yet)
    status: str | None
    source: str | None
    model: str | None
    error: str | None = None  # why a failed file has no caption
    # With ``texts``: the picture's long description and the text read in it (docs/architecture.md §15)
    description: str | None = None
    image_text: str | None = None


def entries_page(
    index: Index,
    *,
    after: bytes = b"",
    limit: int = PAGE,
    under: str | None = None,
    status: str | None = None,
    captioned_only: bool = False,
    include_failed: bool = False,
    only: str | None = None,
    texts: bool = False,
) -> list[Entry]:
    """One page of present files below ``under`` whose path (bytes) sorts after ``after``, in path order.
    ``include_failed`` adds files that could not be captioned; ``only`` narrows to ``"failed"`` files or to
    indexed files with ``"missing-alt"`` (no caption); ``texts`` also reads each picture's description and
    image text (a lookup per file that lint and review don't need)."""
    # "+f.state": walk the path index (keyset order) instead of letting SQLite pick the state index
    # and sort every indexed file for each page.
    state = "+f.state IN ('indexed', 'failed')" if include_failed else "+f.state = 'indexed'"
    if only == "failed":
        state = "+f.state = 'failed'"
    filters, params = file_filters(under, status)
    filters[:0] = [state, "f.path > :after"]
    params.update(after=after, page=limit)
    if captioned_only or status:
        filters.append("c.id IS NOT NULL")
    if only == "missing-alt":
        filters.append("c.id IS NULL")
    extra = (f", {picture_text_sql('description')} AS description, {picture_text_sql('image_text')} AS image_text"
             if texts else ", NULL AS description, NULL AS image_text")
    sql = f"""
        SELECT f.id AS file_id, f.path AS path, f.name AS name, f.image_id AS image_id, c.id AS caption_id,
               c.text AS alt_text, c.status AS status, c.source AS source, c.model AS model, f.error AS error{extra}
        FROM files f
        LEFT JOIN images i ON i.id = f.image_id
        LEFT JOIN captions c ON c.id = i.caption_id
        WHERE {" AND ".join(filters)}
        ORDER BY f.path
        LIMIT :page
    """
    with index.read_sql() as connection:
        rows = connection.execute(sql, params).fetchall()
    return [
        Entry(file_id=file_id, path=os.fsdecode(path), name=name, image_id=image_id, caption_id=caption_id,
              alt_text=alt_text, status=status, source=source, model=model, error=error, description=description,
              image_text=image_text)
        for (file_id, path, name, image_id, caption_id, alt_text, status, source, model, error, description,
             image_text) in rows
    ]


def iter_entries(
    index: Index,
    *,
    under: str | None = None,
    status: str | None = None,
    captioned_only: bool = False,
    include_failed: bool = False,
    page: int = PAGE,
    texts: bool = False,
) -> Iterator[Entry]:
    """Indexed (present, decoded) files below ``under``, ordered by path bytes; ``include_failed`` adds
    present files that could not be captioned (they have no alt text: lint reports them). Pages are read
    in short read transactions, so a million-file index streams in constant memory."""
    after = b""
    while True:
        entries = entries_page(index, after=after, limit=page, under=under, status=status,
                               captioned_only=captioned_only, include_failed=include_failed, texts=texts)
        yield from entries
        if len(entries) < page:
            return
        after = os.fsencode(entries[-1].path)
