"""Full-text search on PostgreSQL: the ``search_fts`` table's tsvector under a GIN index, ranked by
``ts_rank_cd`` (docs/architecture.md §12): alt text weight A, file names and image text B, description C.
The same tiers, hits and JSON as SQLite's FTS5 search
(alttext/search/fts.py), which dispatches here:

1. the query's words together and in order: each run of adjacent meaningful words is a phrase
   (``phraseto_tsquery``); when only noise words separate single meaningful words, they must follow one
   another within as many words as the query has between them (``a <N> b`` for each distance up to N:
   unlike FTS5's NEAR, in the query's order);
2. all the meaningful words, in any order;
3. any of them.

Words are stemmed by PostgreSQL's 'english' configuration (Snowball; FTS5 uses Porter: "running" and
"run" match on both), which also drops English stop words: a query made only of such words ("the") finds
nothing here, where FTS5 would match them. Diacritics are folded ("cafe" finds "café") only where the
server has the unaccent extension. No prefix matching on either side.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from itertools import pairwise

from alttext.index.db import Index
from alttext.index.picture_text import picture_text_sql
from alttext.index.selection import file_filters
from alttext.search.dates import DateRange, capture_date_filters
from alttext.search.fts import (
    RANK_WINDOW,
    STOPWORDS,
    TIER_ALL_WORDS,
    TIER_ANY_WORD,
    TIER_PHRASE,
    SearchHit,
    query_terms,
    taken_image_id_span,
)

_WORD = re.compile(r"\w+", re.UNICODE)
_ADJACENT_MARKS = re.compile("\x03(\\s+)\x02")  # "[red] [circle]" -> "[red circle]", as FTS5 marks a phrase
CONFIG = "'alttext'::regconfig"  # migration 0001: 'english' with unaccent where the server has it
# ts_headline's markers: the same control characters FTS5's highlight() is given in fts.py.
HIGHLIGHT_OPTIONS = "'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', HighlightAll=true'"


class _Query:
    """A tsquery expression in SQL, its words passed as bound parameters (never spliced into the SQL)."""

    def __init__(self) -> None:
        self.params: dict[str, object] = {}

    def word(self, value: str, function: str = "plainto_tsquery") -> str:
        name = f"w{len(self.params)}"
        self.params[name] = value
        return f"{function}({CONFIG}, :{name})"

    def phrase(self, words: list[str]) -> str:
        return self.word(" ".join(words), "phraseto_tsquery")

    def follows(self, first: str, second: str, gap: int) -> str:
        """``first`` then ``second`` with at most ``gap`` words between them."""
        a, b = self.word(first), self.word(second)
        return "(" + " || ".join(f"tsquery_phrase({a}, {b}, {distance})" for distance in range(1, gap + 2)) + ")"


def _phrase_tier(query: str, q: _Query) -> str | None:
    """The SQL tsquery for the query's words together and in order; None for one meaningful word."""
    words = [word.lower() for word in _WORD.findall(query)]
    meaningful = [i for i, word in enumerate(words) if word not in STOPWORDS] or list(range(len(words)))
    if len(meaningful) < 2:
        return None
    runs: list[list[str]] = []
    for previous, i in zip([-2, *meaningful], meaningful, strict=False):
        if i == previous + 1:
            runs[-1].append(words[i])
        else:
            runs.append([words[i]])
    if len(runs) == 1 or any(len(run) > 1 for run in runs):
        return "(" + " && ".join(q.phrase(run) for run in runs) + ")"
    gap = meaningful[-1] - meaningful[0] + 1 - len(meaningful)
    return "(" + " && ".join(q.follows(a[0], b[0], gap) for a, b in pairwise(runs)) + ")"


def search(
    index: Index, query: str, *, limit: int = 20, under: str | None = None, status: str | None = None,
    taken: DateRange | None = None,
) -> list[SearchHit]:
    terms = query_terms(query)
    if not terms:
        return []
    tiers: list[tuple[_Query, str, int]] = []
    phrase_query = _Query()
    if (phrase := _phrase_tier(query, phrase_query)) is not None:
        tiers.append((phrase_query, phrase, TIER_PHRASE))
    all_query = _Query()
    tiers.append((all_query, "(" + " && ".join(all_query.word(term) for term in terms) + ")", TIER_ALL_WORDS))
    if len(terms) > 1:
        any_query = _Query()
        tiers.append((any_query, "(" + " || ".join(any_query.word(term) for term in terms) + ")", TIER_ANY_WORD))
    hits: list[SearchHit] = []
    seen: set[int] = set()
    for q, expression, tier in tiers:
        is_phrase = tier == TIER_PHRASE
        for hit in _run(index, q, expression, limit + len(seen), under, status, taken, may_walk=not is_phrase):
            if hit.file_id not in seen and len(hits) < limit:
                seen.add(hit.file_id)
                marked = _ADJACENT_MARKS.sub(r"\1", hit.highlighted) if is_phrase else hit.highlighted
                hits.append(replace(hit, phrase=is_phrase, tier=tier, highlighted=marked))
        if len(hits) >= limit:
            break
    return hits


def _run(index: Index, q: _Query, expression: str, limit: int, under: str | None,
         status: str | None, taken: DateRange | None, *, may_walk: bool = True) -> list[SearchHit]:
    filters, params = file_filters(under, status)
    filters += capture_date_filters(taken, params)
    params.update(q.params, limit=limit, window=RANK_WINDOW)
    where = (" AND " + " AND ".join(filters)) if filters else ""
    captions = " JOIN captions c ON c.id = i.caption_id" if status else ""
    passes = (f""" AND EXISTS (SELECT 1 FROM images i{captions} JOIN files f ON f.image_id = i.id
                   WHERE i.id = s.image_id AND f.state = 'indexed'{where})""" if filters else "")
    span = " AND s.image_id BETWEEN :span_lo AND :span_hi" if taken is not None else ""
    # Like the SQLite side: rank only the newest RANK_WINDOW matches (that pass the filters), then one hit
    # per present file of each matching image. Ties in rank go to the newer image, in ``m`` and in the
    # hits alike, so the first N hits are the same whatever the limit (the review walks a search's hits by
    # position, asking for one more each time).
    # The match condition names the tsquery itself, not the CTE's column: so the planner sees the words
    # and estimates from the column's statistics how many rows match. A common word ("standing": 10 % of
    # 10^6 captions) is then found walking image ids downwards until the window is full (~30 ms), a rare
    # one through the GIN index; behind the CTE it guessed 0.5 % and read every match (~500 ms).
    # A phrase's matches are estimated as its words' together (there are no statistics on positions),
    # often many times too many: the walk then reads half the table ("black house": 820 ms at 10^6).
    # "+ 0" keeps a phrase on the GIN index, whose candidates are at most the words' common matches.
    newest = "s.image_id DESC" if may_walk else "s.image_id + 0 DESC"
    sql = f"""
        WITH q AS (SELECT {expression} AS query),
        window_ AS (
            SELECT s.image_id, s.document FROM search_fts s
            WHERE s.document @@ {expression}{span}{passes}
            ORDER BY {newest} LIMIT :window
        ),
        m AS (
            SELECT w.image_id, ts_rank_cd(w.document, q.query) AS rank FROM window_ w, q
            ORDER BY rank DESC, w.image_id DESC LIMIT :limit
        )
        SELECT f.id AS file_id, f.path AS path, c.text AS alt_text, m.rank AS rank,
               ts_headline({CONFIG}, c.text, q.query, {HIGHLIGHT_OPTIONS}) AS highlighted,
               c.status AS status, c.source AS source, f.taken_at AS taken_at,
               {picture_text_sql("image_text")} AS image_text
        FROM m CROSS JOIN q
        JOIN images i ON i.id = m.image_id
        JOIN captions c ON c.id = i.caption_id
        JOIN files f ON f.image_id = i.id
        WHERE f.state = 'indexed'{where}
        ORDER BY m.rank DESC, m.image_id DESC, f.path
        LIMIT :limit
    """
    with index.read_sql() as connection:
        # A plan for these words, never a generic one cached for "any words" (psycopg prepares a statement
        # run five times): how common the words are decides between the two plans above.
        connection.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        if taken is not None:  # as on SQLite: only the date range's images' id span (ix_files_taken_at)
            params["span_lo"], params["span_hi"] = taken_image_id_span(connection, params)
        rows = connection.execute(sql, params).fetchall()
    return [
        SearchHit(
            file_id=file_id, path=os.fsdecode(path), alt_text=alt_text, highlighted=highlighted,
            score=round(float(rank), 4), status=status, source=source, taken_at=taken_at or None,
            image_text=image_text or None,
        )
        for file_id, path, alt_text, rank, highlighted, status, source, taken_at, image_text in rows
    ]
