"""Full-text search over alt texts and file names (SQLite FTS5, bm25-ranked, Porter-stemmed).

Words are matched in any order. All query words must match first (most precise); if that finds
fewer than ``limit`` results, files matching any of the words follow, so a chatty query like
"find the photo of a dog on a beach" still finds the dog on the beach.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from sqlalchemy import text

from alttext.index.db import Index

# Words that only add noise to a photo search (they're in nearly every caption or query).
STOPWORDS = frozenset(
    {
        "a", "an", "the", "of", "on", "in", "at", "to", "and", "or", "with", "is", "are", "be", "this", "that",
        "its", "it", "find", "show", "me", "photo", "photos", "picture", "pictures", "image", "images", "pic",
        "pics", "some", "there",
    }
)
_WORD = re.compile(r"\w+", re.UNICODE)
HIGHLIGHT_START, HIGHLIGHT_END = "\x02", "\x03"

# bm25 costs a few microseconds per matching row, so ranking every match of a broad query ("dog" in a
# million photos: 30,000 matches) takes 100+ ms. Unfiltered queries rank the newest RANK_WINDOW matches
# (found by walking the match list backwards, which is cheap); narrower queries rank all their matches.
RANK_WINDOW = 1000


@dataclass
class SearchHit:
    file_id: int
    path: str
    alt_text: str
    highlighted: str  # alt text with matches between HIGHLIGHT_START and HIGHLIGHT_END
    score: float  # higher is better
    status: str
    source: str


def query_terms(query: str) -> list[str]:
    words = [word.lower() for word in _WORD.findall(query)]
    meaningful = [word for word in words if word not in STOPWORDS]
    return meaningful or words


def _fts_expression(terms: list[str], operator: str) -> str:
    return f" {operator} ".join('"' + term.replace('"', '""') + '"' for term in terms)


def _folder_range(folder: str) -> tuple[bytes, bytes]:
    """Byte range that holds exactly the paths below ``folder`` ('/' + 1 is '0')."""
    prefix = os.fsencode(os.path.abspath(folder)).rstrip(b"/") + b"/"
    return prefix, prefix[:-1] + b"0"


def search(
    index: Index, query: str, *, limit: int = 20, under: str | None = None, status: str | None = None
) -> list[SearchHit]:
    terms = query_terms(query)
    if not terms:
        return []
    hits: list[SearchHit] = []
    seen: set[int] = set()
    expressions = [_fts_expression(terms, "AND")]
    if len(terms) > 1:
        expressions.append(_fts_expression(terms, "OR"))
    for expression in expressions:
        for hit in _run(index, expression, limit + len(seen), under, status):
            if hit.file_id not in seen and len(hits) < limit:
                seen.add(hit.file_id)
                hits.append(hit)
        if len(hits) >= limit:
            break
    return hits


def file_filters(under: str | None, status: str | None) -> tuple[list[str], dict[str, object]]:
    """SQL conditions (on files ``f`` and captions ``c``) and their parameters for --under and --status."""
    filters: list[str] = []
    params: dict[str, object] = {}
    if under:
        params["lo"], params["hi"] = _folder_range(under)
        filters.append("f.path >= :lo AND f.path < :hi")
    if status:
        params["status"] = status
        filters.append("c.status = :status")
    return filters, params


def _run(index: Index, expression: str, limit: int, under: str | None, status: str | None) -> list[SearchHit]:
    filters, params = file_filters(under, status)
    params.update(q=expression, limit=limit)
    where = (" AND " + " AND ".join(filters)) if filters else ""
    # The search table has one row per image (alt text + its files' names). Without filters, FTS5 picks
    # the top images by rank itself before any join.
    inner_limit = "" if filters else "LIMIT :limit"
    window = ""
    with index.read() as connection:
        if not filters:
            floor = connection.execute(
                text("SELECT rowid FROM search_fts WHERE search_fts MATCH :q ORDER BY rowid DESC LIMIT 1 OFFSET :n"),
                {"q": expression, "n": RANK_WINDOW - 1},
            ).scalar()
            if floor is not None:
                window = " AND rowid >= :floor"
                params["floor"] = floor
        sql = f"""
            SELECT f.id AS file_id, f.path AS path, c.text AS alt_text, m.hl AS highlighted, m.rank AS rank,
                   c.status AS status, c.source AS source
            FROM (SELECT rowid, rank, highlight(search_fts, 0, char(2), char(3)) AS hl
                  FROM search_fts WHERE search_fts MATCH :q{window} ORDER BY rank {inner_limit}) AS m
            JOIN images i ON i.id = m.rowid
            JOIN captions c ON c.id = i.caption_id
            JOIN files f ON f.image_id = i.id
            WHERE f.state = 'indexed'{where}
            ORDER BY m.rank, f.path
            LIMIT :limit
        """
        rows = connection.execute(text(sql), params).all()
    return [
        SearchHit(
            file_id=row.file_id, path=os.fsdecode(row.path), alt_text=row.alt_text, highlighted=row.highlighted,
            score=round(-float(row.rank), 4), status=row.status, source=row.source,
        )
        for row in rows
    ]
