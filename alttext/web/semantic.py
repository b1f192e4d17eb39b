"""Semantic search over alt texts, and its fusion with full-text search.

Brute force: the query's vector is compared with every stored caption vector (a dot product: all are
unit length). The vectors are read from SQLite a chunk at a time and only a running top-k is kept, so
memory stays at one chunk (64k x 384 float32 = 96 MiB) whatever the index size. At 10^5 captions that
is well under a second; tests/web/bench_semantic.py measures 10^6 (see its docstring). No ANN index:
it would need a dependency and a second copy of the data to keep in step with edits.

Fusion is reciprocal rank fusion (Cormack et al. 2009): each list contributes 1 / (K + rank). Ranks,
not scores, are fused because bm25 and cosine scores live on unrelated scales.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
from sqlalchemy import text

from alttext.index.db import Index
from alttext.index.search import SearchHit, _folder_range
from alttext.index.search import search as fts_search
from alttext.web.embeddings import Encoder, from_blobs

CHUNK = 65_536
RRF_K = 60  # the constant from the RRF paper; damps the influence of the very first ranks
# all-MiniLM-L6-v2 gives unrelated short texts cosine ~0.0-0.15 and paraphrases 0.5+; below this floor a
# "semantic match" is noise that would only push real keyword matches down.
MIN_SIMILARITY = 0.25


def _candidate_filter(under: str | None, status: str | None, params: dict[str, object]) -> str:
    """Only captions that are current for an image with a present file (below ``under``)."""
    clauses = []
    if status:
        params["status"] = status
        clauses.append("EXISTS (SELECT 1 FROM captions c WHERE c.id = e.caption_id AND c.status = :status)")
    path_filter = ""
    if under:
        params["lo"], params["hi"] = _folder_range(under)
        path_filter = " AND +f.path >= :lo AND +f.path < :hi"
    # The unary + keeps SQLite (which has no statistics: nobody runs ANALYZE) from probing by the
    # low-selectivity state or path indexes instead of image_id, which made this O(rows x files).
    clauses.append(
        "EXISTS (SELECT 1 FROM files f WHERE f.image_id = i.id AND +f.state = 'indexed'" + path_filter + ")"
    )
    return " AND ".join(clauses)


def top_captions(
    index: Index, query_vector: np.ndarray, encoder_name: str, *, k: int, under: str | None = None,
    status: str | None = None, min_score: float = MIN_SIMILARITY, chunk: int = CHUNK,
) -> list[tuple[int, float]]:
    """The ``k`` current captions most similar to the query: [(caption_id, cosine)], best first."""
    query = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    dim = int(query.shape[0])
    params: dict[str, object] = {"model": encoder_name, "dim": dim, "after": 0, "chunk": chunk}
    sql = f"""
        SELECT e.caption_id, e.vector
        FROM caption_embeddings e JOIN images i ON i.caption_id = e.caption_id
        WHERE e.model = :model AND e.dim = :dim AND e.caption_id > :after
          AND {_candidate_filter(under, status, params)}
        ORDER BY e.caption_id
        LIMIT :chunk
    """
    best_ids = np.empty(0, dtype=np.int64)
    best_scores = np.empty(0, dtype=np.float32)
    while True:
        with index.read() as connection:
            # The DB-API cursor directly: SQLAlchemy's Row objects cost as much as the read itself here.
            rows = connection.connection.driver_connection.execute(sql, params).fetchall()
        if not rows:
            break
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        scores = from_blobs((row[1] for row in rows), dim) @ query
        keep = scores >= min_score
        best_ids = np.concatenate([best_ids, ids[keep]])
        best_scores = np.concatenate([best_scores, scores[keep]])
        if len(best_ids) > k:  # keep only a running top-k: memory stays flat
            top = np.argpartition(-best_scores, k - 1)[:k]
            best_ids, best_scores = best_ids[top], best_scores[top]
        params["after"] = int(ids[-1])
        if len(rows) < chunk:
            break
    order = np.lexsort((best_ids, -best_scores))  # best first; ties by id, so results are deterministic
    return [(int(best_ids[i]), float(best_scores[i])) for i in order]


def _hits_for_captions(
    index: Index, ranked: list[tuple[int, float]], *, limit: int, under: str | None,
) -> list[SearchHit]:
    """One hit per present file showing each caption (duplicates share a caption), best caption first."""
    if not ranked:
        return []
    params: dict[str, object] = {}
    path_filter = ""
    if under:
        params["lo"], params["hi"] = _folder_range(under)
        path_filter = " AND +f.path >= :lo AND +f.path < :hi"
    ids = ",".join(str(caption_id) for caption_id, _ in ranked)
    with index.read() as connection:
        rows = connection.execute(text(f"""
            SELECT f.id AS file_id, f.path AS path, c.id AS caption_id, c.text AS alt_text, c.status AS status,
                   c.source AS source
            FROM captions c JOIN images i ON i.caption_id = c.id JOIN files f ON f.image_id = i.id
            WHERE c.id IN ({ids}) AND +f.state = 'indexed'{path_filter}
            ORDER BY f.path
        """), params).all()
    by_caption: dict[int, list[SearchHit]] = {}
    scores = dict(ranked)
    for row in rows:
        by_caption.setdefault(row.caption_id, []).append(SearchHit(
            file_id=row.file_id, path=os.fsdecode(row.path), alt_text=row.alt_text, highlighted=row.alt_text,
            score=round(scores[row.caption_id], 4), status=row.status, source=row.source,
        ))
    hits = [hit for caption_id, _ in ranked for hit in by_caption.get(caption_id, [])]
    return hits[:limit]


def semantic_search(
    index: Index, query: str, encoder: Encoder, *, limit: int = 20, under: str | None = None,
    status: str | None = None, min_score: float = MIN_SIMILARITY,
) -> list[SearchHit]:
    """Files whose alt text means what the query says; score is the cosine similarity (higher is better)."""
    if not query.strip():
        return []
    vector = encoder.encode([query])[0]
    # Every caption found has at least one matching file, so ``limit`` captions give >= ``limit`` files.
    ranked = top_captions(index, vector, encoder.name, k=limit, under=under, status=status, min_score=min_score)
    return _hits_for_captions(index, ranked, limit=limit, under=under)


def reciprocal_rank_fusion(rankings: list[list[SearchHit]], *, limit: int, k: int = RRF_K) -> list[SearchHit]:
    """Fuse ranked lists of hits (by file); the fused score is sum(1 / (k + rank))."""
    fused: dict[int, float] = {}
    first_seen: dict[int, SearchHit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            fused[hit.file_id] = fused.get(hit.file_id, 0.0) + 1.0 / (k + rank)
            first_seen.setdefault(hit.file_id, hit)  # the first list's hit keeps its FTS highlighting
    order = sorted(fused, key=lambda file_id: (-fused[file_id], first_seen[file_id].path))
    return [replace(first_seen[file_id], score=round(fused[file_id], 6)) for file_id in order[:limit]]


def hybrid_search(
    index: Index, query: str, encoder: Encoder, *, limit: int = 20, under: str | None = None,
    status: str | None = None,
) -> list[SearchHit]:
    """FTS and semantic results fused by rank. Each side contributes more candidates than shown, so a
    file ranked modestly by both can overtake one ranked high by only one."""
    depth = max(limit * 3, 30)
    keyword = fts_search(index, query, limit=depth, under=under, status=status)
    meaning = semantic_search(index, query, encoder, limit=depth, under=under, status=status)
    return reciprocal_rank_fusion([keyword, meaning], limit=limit)
