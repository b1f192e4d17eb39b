"""Semantic search over alt texts, and its fusion with full-text search.

Exact nearest neighbours: the query's vector is compared with every stored caption vector (a dot
product: all are unit length). No ANN index: it would need a dependency, and exact results stay
explainable. Small indexes are scanned straight from SQLite a chunk at a time, keeping only a running
top-k, so memory stays at one chunk (64k x 384 float32 = 96 MiB). From 50,000 vectors on, SQLite handing
out the rows dominates (about 4 us a row: 4.5 s at 10^6), so a memory-mapped int8 copy of the vectors
(vector_copy.py) gives every caption an approximate score with an error bound; candidates are then
re-scored exactly from SQLite, best bound first, until none left can reach the k-th exact score. The
result is the same as the full scan (0.33 s at 10^6; bench/semantic_bench.py). Vectors stored after the
copy was made are scored from SQLite directly.

Fusion is reciprocal rank fusion (Cormack et al. 2009): each list contributes 1 / (K + rank). Ranks,
not scores, are fused because bm25 and cosine scores live on unrelated scales. Exact word matches come
first all the same (docs/architecture.md §11): files whose text has the query's words together and in order
(``SearchHit.phrase``), then those with all of them, each group in fused order; then files with some of
the words and files found by meaning alone, by fused rank. Sentence vectors hardly tell "a red circle"
from "a blue circle and a red square", or "triangle" from "a red circle on a white background" (cosine
0.28), so a high rank by meaning must not lift a file above one that has the words.

Meaning matches must earn their place. Search by meaning alone keeps captions from MIN_SIMILARITY up;
in fused search a file found only by meaning must reach FUSED_MIN_SIMILARITY whenever the words found
something, and be at least as similar to the query as the least similar exact word match (``meaning_floor``).
The floors are measured, not guessed: see their comments and bench/search_precision.py.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from alttext.index.db import Index
from alttext.index.picture_text import picture_text_sql
from alttext.paths import folder_range
from alttext.search.dates import DateRange, capture_date_filters
from alttext.search.fts import TIER_ANY_WORD, SearchHit, is_exact
from alttext.search.fts import search as fts_search
from alttext.search.vector_copy import MIN_ROWS, FreshCopy, approximate_scores, contains, fresh_copy
from alttext.search.vectors import Encoder, from_blobs

CHUNK = 65_536
RRF_K = 60  # the constant from the RRF paper; damps the influence of the very first ranks
TAKEN_DEPTH = 5  # with a date, meaning ranks this many times the captions asked for before the date filter
MAX_CHECK_BATCH = 65_536  # candidate ids checked per query (literals in an IN list: the statement stays small)
# all-MiniLM-L6-v2 gives unrelated short texts cosine ~0.0-0.15 and paraphrases 0.5+; below this floor a
# "semantic match" is noise that would only push real keyword matches down. It stays low because a query
# that no caption has the words of must still find loose paraphrases ("dog" ~ "a golden retriever running
# on grass": 0.36; "birthday party" ~ "children blowing out candles on a cake": 0.19 is lost already).
MIN_SIMILARITY = 0.25
# The floor for files that only meaning found, when the words found some files too. Chosen on the shapes
# fixture (bench/search_precision.py, 120 pictures, 10 queries x 120 captions): the threshold that best
# separates relevant from irrelevant query/caption pairs (Youden's J = TPR - FPR, 0.51 at 0.40 and 0.45,
# TPR 0.84 / FPR 0.33 at 0.40; J is 0.16 at 0.30 and 0.09 at the old 0.25). The lower of the two best
# points, so that paraphrases ("wedding" ~ "a bride and groom cutting a cake": 0.57, "mountains" ~ "a
# snowy peak above a lake": 0.45) still join the words' results.
FUSED_MIN_SIMILARITY = 0.40
NO_LIMIT = 2**63 - 1  # "LIMIT -1" is SQLite's "no limit"; PostgreSQL refuses it, both take the largest bigint


def _candidate_filter(under: str | None, status: str | None, params: dict[str, object]) -> str:
    """Only captions that are current for an image with a present file (below ``under``)."""
    clauses = []
    if status:
        params["status"] = status
        clauses.append("EXISTS (SELECT 1 FROM captions c WHERE c.id = i.caption_id AND c.status = :status)")
    path_filter = ""
    if under:
        params["lo"], params["hi"] = folder_range(under)
        path_filter = " AND +f.path >= :lo AND +f.path < :hi"
    # The unary + keeps SQLite (which has no statistics: nobody runs ANALYZE) from probing by the
    # low-selectivity state or path indexes instead of image_id, which made this O(rows x files).
    clauses.append(
        "EXISTS (SELECT 1 FROM files f WHERE f.image_id = i.id AND +f.state = 'indexed'" + path_filter + ")"
    )
    return " AND ".join(clauses)


def _best(ranked: list[tuple[int, float]], k: int) -> list[tuple[int, float]]:
    """Best first; ties by caption id, so results are deterministic."""
    return sorted(ranked, key=lambda item: (-item[1], item[0]))[:k]


def _exact_scores_sql(which: str, under: str | None, status: str | None, params: dict[str, object]) -> str:
    # "+e.model": without it SQLite walks migration 0003's (model, dim, created_at) index and sorts every
    # remaining row for each chunk, instead of walking the primary key.
    return f"""
        SELECT e.caption_id, e.vector
        FROM caption_embeddings e JOIN images i ON i.caption_id = e.caption_id
        WHERE +e.model = :model AND e.dim = :dim AND {which} AND {_candidate_filter(under, status, params)}
        ORDER BY e.caption_id
        LIMIT :limit
    """


def _exact_scores(
    index: Index, query: np.ndarray, encoder_name: str, which: str, params: dict[str, object], *,
    under: str | None, status: str | None, min_score: float, limit: int | None = None,
) -> tuple[list[tuple[int, float]], int]:
    """Exact scores, from SQLite's float32 vectors, of the searchable captions that ``which`` (an SQL
    condition on e.caption_id) selects, the ``limit`` lowest ids of them, that reach ``min_score``; also
    the largest caption id read (0: none)."""
    dim = int(query.shape[0])
    params = {**params, "model": encoder_name, "dim": dim, "limit": limit or NO_LIMIT}
    sql = _exact_scores_sql(which, under, status, params)
    with index.read_sql() as connection:
        rows = connection.execute(sql, params).fetchall()
    if not rows:
        return [], 0
    ids = [int(row[0]) for row in rows]
    scores = from_blobs((row[1] for row in rows), dim) @ query
    return [(i, float(s)) for i, s in zip(ids, scores, strict=True) if s >= min_score], ids[-1]


def _scan_sqlite(
    index: Index, query: np.ndarray, encoder_name: str, *, k: int, under: str | None, status: str | None,
    min_score: float, chunk: int,
) -> list[tuple[int, float]]:
    """Top ``k`` of all searchable captions, every vector read from SQLite a chunk at a time."""
    best: list[tuple[int, float]] = []
    after = 0
    while True:
        scored, last = _exact_scores(index, query, encoder_name, "e.caption_id > :after", {"after": after},
                                     under=under, status=status, min_score=min_score, limit=chunk)
        if not last:
            return best
        best = _best(best + scored, k)  # a running top-k: memory stays at one chunk
        after = last


def _id_list(ids: np.ndarray) -> str:
    return "e.caption_id IN (" + ",".join(str(int(i)) for i in ids) + ")"


def _allowed_captions_sql(under: str | None, status: str | None, params: dict[str, object]) -> str:
    if not under:
        params["status"] = status
        return "SELECT c.id FROM captions c JOIN images i ON i.caption_id = c.id WHERE c.status = :status"
    params["lo"], params["hi"] = folder_range(under)
    # "+f.state": probe the folder's path range, not every indexed file
    sql = ("SELECT DISTINCT i.caption_id FROM files f JOIN images i ON i.id = f.image_id"
           " WHERE f.path >= :lo AND f.path < :hi AND +f.state = 'indexed' AND i.caption_id IS NOT NULL")
    if status:
        params["status"] = status
        sql += " AND EXISTS (SELECT 1 FROM captions c WHERE c.id = i.caption_id AND c.status = :status)"
    return sql


def _allowed_captions(index: Index, under: str | None, status: str | None) -> np.ndarray:
    """Sorted ids of the current captions that pass --under/--status (a superset of the searchable ones):
    one indexed query, so a narrow filter doesn't mean checking candidates one batch after another."""
    params: dict[str, object] = {}
    sql = _allowed_captions_sql(under, status, params)
    with index.read_sql() as connection:
        rows = connection.execute(sql, params).fetchall()
    return np.sort(np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)))


def _top_from_copy(
    index: Index, copy: FreshCopy, query: np.ndarray, encoder_name: str, *, k: int, under: str | None,
    status: str | None, min_score: float,
) -> list[tuple[int, float]]:
    """Exact top ``k``: approximate scores from the copy rank the candidates; they are re-scored exactly,
    best upper bound first, until no candidate left can reach the k-th exact score."""
    snapshot = copy.snapshot
    approx, bound = approximate_scores(snapshot, query)
    upper = approx + bound
    eligible = upper >= min_score
    eligible &= ~contains(copy.newer_ids, snapshot.caption_ids)  # their vectors changed: SQLite has them
    if under or status:
        eligible &= contains(_allowed_captions(index, under, status), snapshot.caption_ids)
    candidates = np.flatnonzero(eligible)
    order = candidates[np.argsort(-upper[candidates], kind="stable")]
    best: list[tuple[int, float]] = []
    for start in range(0, len(copy.newer_ids), MAX_CHECK_BATCH):
        scored, _ = _exact_scores(index, query, encoder_name, _id_list(copy.newer_ids[start:start + MAX_CHECK_BATCH]),
                                  {}, under=under, status=status, min_score=min_score)
        best = _best(best + scored, k)
    start, size = 0, max(4 * k, 256)
    # Stop only when the k-th exact score beats the next upper bound: on a tie, a lower id could still win.
    while start < len(order) and not (len(best) >= k and best[-1][1] > upper[order[start]]):
        batch = snapshot.caption_ids[order[start:start + size]]
        scored, _ = _exact_scores(index, query, encoder_name, _id_list(batch), {}, under=under, status=status,
                                  min_score=min_score)
        best = _best(best + scored, k)
        start += size
        size = min(size * 4, MAX_CHECK_BATCH)
    return best


def top_captions(
    index: Index, query_vector: np.ndarray, encoder_name: str, *, k: int, under: str | None = None,
    status: str | None = None, min_score: float = MIN_SIMILARITY, chunk: int = CHUNK,
    snapshot_min_rows: int = MIN_ROWS, use_copy: bool = True,
) -> list[tuple[int, float]]:
    """The ``k`` current captions most similar to the query: [(caption_id, cosine)], best first.
    ``use_copy=False`` reads every vector from SQLite (the benchmark's and the tests' reference)."""
    query = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    copy = fresh_copy(index, encoder_name, int(query.shape[0]), min_rows=snapshot_min_rows) if use_copy else None
    if copy is None:
        return _scan_sqlite(index, query, encoder_name, chunk=chunk, k=k, under=under, status=status,
                            min_score=min_score)
    return _top_from_copy(index, copy, query, encoder_name, k=k, under=under, status=status, min_score=min_score)


def _hits_for_captions(
    index: Index, ranked: list[tuple[int, float]], *, limit: int, under: str | None, taken: DateRange | None,
) -> list[SearchHit]:
    """One hit per present file showing each caption (duplicates share a caption), best caption first;
    ``taken``: only the files of photos taken then."""
    if not ranked:
        return []
    params: dict[str, object] = {}
    path_filter = ""
    if under:
        params["lo"], params["hi"] = folder_range(under)
        path_filter = " AND +f.path >= :lo AND +f.path < :hi"
    for condition in capture_date_filters(taken, params):
        path_filter += " AND " + condition
    ids = ",".join(str(caption_id) for caption_id, _ in ranked)
    with index.read_sql() as connection:
        rows = connection.execute(f"""
            SELECT f.id AS file_id, f.path AS path, c.id AS caption_id, c.text AS alt_text, c.status AS status,
                   c.source AS source, f.taken_at AS taken_at, {picture_text_sql("image_text")} AS image_text
            FROM captions c JOIN images i ON i.caption_id = c.id JOIN files f ON f.image_id = i.id
            WHERE c.id IN ({ids}) AND +f.state = 'indexed'{path_filter}
            ORDER BY f.path
        """, params).fetchall()
    by_caption: dict[int, list[SearchHit]] = {}
    scores = dict(ranked)
    for file_id, path, caption_id, alt_text, status, source, taken_at, image_text in rows:
        by_caption.setdefault(caption_id, []).append(SearchHit(
            file_id=file_id, path=os.fsdecode(path), alt_text=alt_text, highlighted=alt_text,
            score=round(scores[caption_id], 4), status=status, source=source, taken_at=taken_at or None,
            image_text=image_text or None,
        ))
    hits = [hit for caption_id, _ in ranked for hit in by_caption.get(caption_id, [])]
    return hits[:limit]


def semantic_search(
    index: Index, query: str, encoder: Encoder, *, limit: int = 20, under: str | None = None,
    status: str | None = None, min_score: float = MIN_SIMILARITY, taken: DateRange | None = None,
) -> list[SearchHit]:
    """Files whose alt text means what the query says; score is the cosine similarity (higher is better).
    ``taken`` keeps the photos taken then among the best TAKEN_DEPTH x ``limit`` captions by meaning (the
    vectors know no dates), so a narrow date in a large library may leave fewer than ``limit``."""
    if not query.strip():
        return []
    # One short sentence is a handful of tiny matrix products: OpenBLAS's thread pool costs more than it
    # saves (its idle threads spin), most on a busy machine. Measured on 2 shared cores: `alttext search`
    # 0.85-0.95 CPU s with the pool, 0.59 with one thread (bench/startup_bench.py).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        vector = encoder.encode([query])[0]
    # Every caption found has at least one matching file, so ``limit`` captions give >= ``limit`` files.
    k = limit * TAKEN_DEPTH if taken else limit
    ranked = top_captions(index, vector, encoder.name, k=k, under=under, status=status, min_score=min_score)
    return _hits_for_captions(index, ranked, limit=limit, under=under, taken=taken)


def reciprocal_rank_fusion(rankings: list[list[SearchHit]], *, limit: int, k: int = RRF_K) -> list[SearchHit]:
    """Fuse ranked lists of hits (by file); the fused score is sum(1 / (k + rank)). Exact word matches first
    (phrase, then all the words: ``SearchHit.tier``), each group in fused order, then everything else."""
    fused: dict[int, float] = {}
    first_seen: dict[int, SearchHit] = {}
    tier: dict[int, int] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            fused[hit.file_id] = fused.get(hit.file_id, 0.0) + 1.0 / (k + rank)
            first_seen.setdefault(hit.file_id, hit)  # the first list's hit keeps its FTS highlighting
            tier[hit.file_id] = min(tier.get(hit.file_id, hit.tier), hit.tier)
    # Some of the words and meaning alone share the last group: ranks decide there.
    group = {file_id: min(tier[file_id], TIER_ANY_WORD) for file_id in fused}
    order = sorted(fused, key=lambda file_id: (group[file_id], -fused[file_id], first_seen[file_id].path))
    return [replace(first_seen[file_id], score=round(fused[file_id], 6), tier=tier[file_id],
                    phrase=first_seen[file_id].phrase or tier[file_id] == 1)
            for file_id in order[:limit]]


def meaning_floor(keyword: list[SearchHit], meaning: list[SearchHit]) -> float:
    """The similarity a file found only by meaning must reach to join the word hits: FUSED_MIN_SIMILARITY,
    and no less than the weakest exact word match found by meaning too (a file that only means what the
    query says must mean it at least as clearly as the ones that also say it)."""
    exact = {hit.file_id for hit in keyword if is_exact(hit)}
    exact_similarities = [hit.score for hit in meaning if hit.file_id in exact]
    return max([FUSED_MIN_SIMILARITY, *exact_similarities[-1:]])  # meaning lists are best first


def meaning_hits_that_earn_a_place(keyword: list[SearchHit], meaning: list[SearchHit]) -> list[SearchHit]:
    """The hits by meaning worth fusing with the word hits: all of them when the words found nothing, else
    those of the files the words found and those that reach ``meaning_floor`` (a meaning hit's score is its
    cosine similarity)."""
    if not keyword:
        return meaning
    found_by_words = {hit.file_id for hit in keyword}
    floor = meaning_floor(keyword, meaning)
    return [hit for hit in meaning if hit.file_id in found_by_words or hit.score >= floor]


def hybrid_search(
    index: Index, query: str, encoder: Encoder, *, limit: int = 20, under: str | None = None,
    status: str | None = None, taken: DateRange | None = None,
) -> list[SearchHit]:
    """FTS and semantic results fused by rank, exact word matches first. Each side contributes more
    candidates than shown, so a file ranked modestly by both can overtake one ranked high by only one."""
    depth = max(limit * 3, 30)
    keyword = fts_search(index, query, limit=depth, under=under, status=status, taken=taken)
    meaning = semantic_search(index, query, encoder, limit=depth, under=under, status=status, taken=taken)
    return reciprocal_rank_fusion([keyword, meaning_hits_that_earn_a_place(keyword, meaning)], limit=limit)
