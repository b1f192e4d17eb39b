"""Full-text search over alt texts, file and folder names, long descriptions and text read in the pictures
(SQLite FTS5, bm25-ranked, Porter-stemmed; a word in a description weighs half: migration 0008).

Results come in tiers, each bm25-ranked, a tier asked for only while the ones before it found fewer
than ``limit`` files:

1. the query's words together and in order: "red circle" finds "a red circle" before "a blue circle
   and a red square" (an FTS5 phrase). When noise words separate the meaningful ones, each run of
   adjacent meaningful words is a phrase ("red dog" AND "beach" for "find a red dog on a beach"), or,
   when every meaningful word stands alone, they must be as close as in the query ("dog on a beach":
   NEAR("dog" "beach", 2), which also takes "dog on the beach");
2. all the meaningful words, in any order;
3. any of them, so a chatty query like "find the photo of a dog on a beach" still finds the dog on
   the beach.

Hits carry their tier (``SearchHit.tier``; tier 1 is also marked ``phrase``), so that fusion with search
by meaning keeps the exact matches (tiers 1 and 2) first (docs/architecture.md §11).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace

from alttext.index.db import Index
from alttext.index.dbapi import ReadConnection
from alttext.index.picture_text import picture_text_sql
from alttext.index.selection import file_filters
from alttext.search.dates import DateRange, capture_date_filters

# Words that only add noise to a photo search (they're in nearly every caption or query).
STOPWORDS = frozenset(
    {
        "a", "an", "the", "of", "on", "in", "at", "to", "and", "or", "with", "is", "are", "be", "this", "that",
        "its", "it", "find", "show", "me", "photo", "photos", "picture", "pictures", "image", "images", "pic",
        "pics", "some", "there",
    }
)
_WORD = re.compile(r"\w+", re.UNICODE)

# bm25 costs a few microseconds per matching row, so ranking every match of a broad query ("dog" in a
# million photos: 30,000 matches) takes 100+ ms. Queries rank the newest RANK_WINDOW matching images
# (found by walking the match list backwards, which is cheap), with or without --under/--status.
RANK_WINDOW = 1000
SPAN_PROBE = 50_000  # folders with fewer files than this narrow the match walk to their images' id span


# SearchHit.tier: how a hit matched the query's words (lower is stronger).
TIER_PHRASE, TIER_ALL_WORDS, TIER_ANY_WORD, TIER_MEANING = 1, 2, 3, 4


@dataclass
class SearchHit:
    file_id: int
    path: str
    alt_text: str
    highlighted: str  # alt text with matches between HIGHLIGHT_START and HIGHLIGHT_END
    score: float  # higher is better
    status: str
    source: str
    phrase: bool = False  # the query's words appear together, in order (the strongest word match)
    tier: int = TIER_MEANING  # how the words matched: TIER_PHRASE, TIER_ALL_WORDS, TIER_ANY_WORD (or none)
    taken_at: str | None = None  # when the photo was taken ("YYYY-MM-DDTHH:MM:SS"), if the file says
    image_text: str | None = None  # text read in the picture (docs/architecture.md §15), searched too


def is_exact(hit: SearchHit) -> bool:
    """All the query's meaningful words are in the hit's text or file names."""
    return hit.tier <= TIER_ALL_WORDS


def query_terms(query: str) -> list[str]:
    words = [word.lower() for word in _WORD.findall(query)]
    meaningful = [word for word in words if word not in STOPWORDS]
    return meaningful or words


def _quoted(words: list[str]) -> str:
    """One FTS5 string: several words in it form a phrase (adjacent, in this order)."""
    return '"' + " ".join(words).replace('"', '""') + '"'


def _fts_expression(terms: list[str], operator: str) -> str:
    return f" {operator} ".join(_quoted([term]) for term in terms)


def _phrase_expressions(query: str) -> list[str]:
    """The FTS5 expression for the query's words together and in order, as a list: none for one word."""
    words = [word.lower() for word in _WORD.findall(query)]
    meaningful = [i for i, word in enumerate(words) if word not in STOPWORDS] or list(range(len(words)))
    if len(meaningful) < 2:
        return []
    runs: list[list[str]] = []  # meaningful words with no other word between them
    for previous, i in zip([-2, *meaningful], meaningful, strict=False):
        if i == previous + 1:
            runs[-1].append(words[i])
        else:
            runs.append([words[i]])
    if len(runs) == 1:
        return [_quoted(runs[0])]
    # Never a phrase that holds noise words ("dog in a park"): FTS5 then reads the position lists of
    # "in" and "a", found in nearly every caption (+25 ms a query at 10^6 captions).
    if any(len(run) > 1 for run in runs):
        return [" AND ".join(_quoted(run) for run in runs)]
    # Only noise words between the meaningful ones: those words within as many others as the query has.
    gap = meaningful[-1] - meaningful[0] + 1 - len(meaningful)
    return [f"NEAR({' '.join(_quoted(run) for run in runs)}, {gap})"]


def search(
    index: Index, query: str, *, limit: int = 20, under: str | None = None, status: str | None = None,
    taken: DateRange | None = None,
) -> list[SearchHit]:
    """Files whose alt text, names (file and folders), description or image text have the query's words;
    ``taken``: only photos taken then (docs/architecture.md §11)."""
    if index.dialect == "postgresql":  # tsvector + GIN instead of FTS5 (docs/architecture.md §12)
        from alttext.search import fts_postgres

        return fts_postgres.search(index, query, limit=limit, under=under, status=status, taken=taken)
    terms = query_terms(query)
    if not terms:
        return []
    hits: list[SearchHit] = []
    seen: set[int] = set()
    tiers = [(expression, TIER_PHRASE) for expression in _phrase_expressions(query)]
    tiers.append((_fts_expression(terms, "AND"), TIER_ALL_WORDS))
    if len(terms) > 1:
        tiers.append((_fts_expression(terms, "OR"), TIER_ANY_WORD))
    for expression, tier in tiers:
        for hit in _run(index, expression, limit + len(seen), under, status, taken):
            if hit.file_id not in seen and len(hits) < limit:
                seen.add(hit.file_id)
                hits.append(replace(hit, phrase=tier == TIER_PHRASE, tier=tier))
        if len(hits) >= limit:
            break
    return hits


_MATCH_COLUMNS = "m.rowid AS rowid, m.rank AS rank, highlight(search_fts, 0, char(2), char(3)) AS hl"


def _newest_matches(connection: ReadConnection, params: dict[str, object]) -> str:
    """Unfiltered: FTS5 ranks the matches among the newest RANK_WINDOW itself, before any join."""
    floor = connection.scalar(
        "SELECT rowid FROM search_fts WHERE search_fts MATCH :q ORDER BY rowid DESC LIMIT 1 OFFSET :n",
        {"q": params["q"], "n": RANK_WINDOW - 1},
    )
    window = ""
    if floor is not None:
        window = " AND m.rowid >= :floor"
        params["floor"] = floor
    return (f"SELECT {_MATCH_COLUMNS} FROM search_fts m WHERE search_fts MATCH :q{window}"
            " ORDER BY m.rank, m.rowid DESC LIMIT :limit")


def _filtered_matches(
    connection: ReadConnection, under: str | None, status: str | None, where: str, params: dict[str, object]
) -> str:
    """--under/--status: the newest RANK_WINDOW matches that pass the filters, found by walking the match
    list backwards with an EXISTS check; rank and highlight are computed only for those (FTS5 computes
    them when read). A small folder, and a capture date, first narrow the walk to their images' id span."""
    spans = []
    if under and (bounds := _image_id_span(connection, params)) is not None:
        spans.append(bounds)
    if "taken_from" in params:
        spans.append(taken_image_id_span(connection, params))
    span = ""
    if spans:
        span = " AND m.rowid BETWEEN :span_lo AND :span_hi"
        params["span_lo"], params["span_hi"] = max(lo for lo, _ in spans), min(hi for _, hi in spans)
    captions = " JOIN captions c ON c.id = i.caption_id" if status else ""
    return f"""
        SELECT {_MATCH_COLUMNS} FROM search_fts m
        WHERE search_fts MATCH :q{span} AND EXISTS (
            SELECT 1 FROM images i{captions} JOIN files f ON f.image_id = i.id
            WHERE i.id = m.rowid AND f.state = 'indexed'{where})
        ORDER BY m.rowid DESC LIMIT :window
    """


def taken_image_id_span(connection: ReadConnection, params: dict[str, object]) -> tuple[int, int]:
    """Lowest and highest image id of the files taken in the date range ((1, 0) when none), read from the
    (taken_at, image_id) index alone. Photos are mostly indexed in the order they were taken or filed, so
    a year's images tend to sit in a narrow id span: "dog 2015" then walks that span's matches only."""
    # "+ 0": PostgreSQL would otherwise answer min() and max() by walking an image_id index until a row
    # in the range turns up: 400 ms for a recent year at 10^6 files (dates follow ids), not 10.
    low, high = connection.execute(
        "SELECT min(image_id + 0), max(image_id + 0) FROM files WHERE taken_at >= :taken_from AND taken_at < :taken_to",
        {"taken_from": params["taken_from"], "taken_to": params["taken_to"]},
    ).fetchone()
    return (1, 0) if low is None else (int(low), int(high))


def _image_id_span(connection: ReadConnection, params: dict[str, object]) -> tuple[int, int] | None:
    """Lowest and highest image id among the folder's present files ((1, 0), an empty span, when there are
    none), for folders of fewer than SPAN_PROBE files; None for larger ones, which pass the filter often
    enough that the walk ends soon anyway."""
    probe = {"lo": params["lo"], "hi": params["hi"], "probe": SPAN_PROBE}
    files = connection.scalar(
        "SELECT count(*) FROM (SELECT 1 FROM files WHERE path >= :lo AND path < :hi LIMIT :probe)", probe)
    if files and files >= SPAN_PROBE:
        return None
    low, high = connection.execute(
        "SELECT min(image_id), max(image_id) FROM files WHERE path >= :lo AND path < :hi AND +state = 'indexed'",
        {"lo": params["lo"], "hi": params["hi"]},
    ).fetchone()
    return (1, 0) if low is None else (int(low), int(high))


def _run(index: Index, expression: str, limit: int, under: str | None, status: str | None,
         taken: DateRange | None) -> list[SearchHit]:
    filters, params = file_filters(under, status)
    filters += capture_date_filters(taken, params)
    params.update(q=expression, limit=limit, window=RANK_WINDOW)
    where = (" AND " + " AND ".join(filters)) if filters else ""
    with index.read_sql() as connection:
        if filters:
            matches = _filtered_matches(connection, under, status, where, params)
        else:
            matches = _newest_matches(connection, params)
        # The search table has one row per image (alt text + its files' names): a hit per present file.
        # Ties in rank go to the newer image, in the matches and the hits alike, so the first N hits are the
        # same whatever the limit (the review walks a search's hits by position, one more each time).
        sql = f"""
            SELECT f.id AS file_id, f.path AS path, c.text AS alt_text, m.hl AS highlighted, m.rank AS rank,
                   c.status AS status, c.source AS source, f.taken_at AS taken_at,
                   {picture_text_sql("image_text")} AS image_text
            FROM ({matches}) AS m
            JOIN images i ON i.id = m.rowid
            JOIN captions c ON c.id = i.caption_id
            JOIN files f ON f.image_id = i.id
            WHERE f.state = 'indexed'{where}
            ORDER BY m.rank, m.rowid DESC, f.path
            LIMIT :limit
        """
        rows = connection.execute(sql, params).fetchall()
    return [
        SearchHit(
            file_id=file_id, path=os.fsdecode(path), alt_text=alt_text, highlighted=highlighted,
            score=round(-float(rank), 4), status=status, source=source, taken_at=taken_at or None,
            image_text=image_text or None,
        )
        for file_id, path, alt_text, highlighted, rank, status, source, taken_at, image_text in rows
    ]
