"""Search by when photos were taken: "2024", "june 2023", "dog 2023" (docs/architecture.md §11).

A date in the query (alttext.search.dates) filters by capture date (``files.taken_at``, from EXIF); the
rest of the query is searched as usual, by words, meaning or both. After those come the files whose
names, folders or alt text say the date in words together with the rest of the query (a folder
"2024", "Summer 2023/beach.jpg"), so photos without EXIF dates are found by how they were filed.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from alttext.index.db import Index
from alttext.index.picture_text import picture_text_sql
from alttext.paths import folder_range
from alttext.search.dates import DatedQuery, DateRange, capture_date_filters
from alttext.search.fts import TIER_ALL_WORDS, SearchHit, is_exact
from alttext.search.fts import search as word_search

# Search the query's other words in the date range: (words, taken, limit) -> hits.
SearchWords = Callable[[str, DateRange, int], list[SearchHit]]


def search_taken_between(
    index: Index, taken: DateRange, *, limit: int = 20, under: str | None = None, status: str | None = None,
) -> list[SearchHit]:
    """Captioned, present files of photos taken in ``taken``, the most recently taken first: a range walk
    of the ``files.taken_at`` index (ix_files_taken_at), whose order is (taken_at, image_id, id)."""
    params: dict[str, object] = {"limit": limit}
    where = capture_date_filters(taken, params)
    if under:
        params["lo"], params["hi"] = folder_range(under)
        where.append("+f.path >= :lo AND +f.path < :hi")  # "+": walk the date index, check the folder
    if status:
        params["status"] = status
        where.append("c.status = :status")
    with index.read_sql() as connection:
        rows = connection.execute(f"""
            SELECT f.id AS file_id, f.path AS path, c.text AS alt_text, c.status AS status, c.source AS source,
                   f.taken_at AS taken_at, {picture_text_sql("image_text")} AS image_text
            FROM files f JOIN images i ON i.id = f.image_id JOIN captions c ON c.id = i.caption_id
            WHERE {" AND ".join(where)} AND +f.state = 'indexed'
            ORDER BY f.taken_at DESC, f.image_id DESC, f.id DESC
            LIMIT :limit
        """, params).fetchall()
    return [
        SearchHit(file_id=file_id, path=os.fsdecode(path), alt_text=alt_text, highlighted=alt_text, score=0.0,
                  status=status, source=source, tier=TIER_ALL_WORDS, taken_at=taken_at, image_text=image_text or None)
        for file_id, path, alt_text, status, source, taken_at, image_text in rows
    ]


def dated_search(
    index: Index, dated: DatedQuery, search_words: SearchWords, *, limit: int = 20, under: str | None = None,
    status: str | None = None,
) -> list[SearchHit]:
    """Photos taken at the query's date that match its other words, then files that say the whole query in
    words (names, folders, alt text)."""
    assert dated.dates is not None
    if dated.words.strip():
        hits = search_words(dated.words, dated.dates, limit)
    else:
        hits = search_taken_between(index, dated.dates, limit=limit, under=under, status=status)
    seen = {hit.file_id for hit in hits}
    if len(hits) < limit:
        said = word_search(index, dated.query, limit=limit + len(seen), under=under, status=status)
        hits += [hit for hit in said if is_exact(hit) and hit.file_id not in seen][: limit - len(hits)]
    return hits
