"""A compact, memory-mapped copy of the caption vectors, so that a semantic query need not pull every
vector through SQLite (about 4 s at 10^6 captions, almost all of it SQLite handing out rows).

The copy holds every vector of one encoder as int8 codes with one float32 scale per vector (a quarter
of float32's bytes: 0.4 GB at 10^6 captions; numpy also turns int8 into float32 four times faster than
it does float16). Scores computed from it are approximate, but each comes with a bound on its error,
so callers can find the exact top k by re-scoring just the few candidates whose bound reaches it, with
the float32 vectors from SQLite (alttext/search/semantic.py does).

It is a cache, never the truth. It lives next to the index (``<index>.vectors-<model hash>``) and
records, from the transaction it was built in, the newest ``created_at`` of its vectors and the
table's row count. Before each use: the vectors stored since then (new captions, or captions embedded
again) are found through an index on ``created_at`` (migration 0003; vectors.py keeps created_at
growing even when the clock steps back) and read from SQLite by the caller instead of from the copy;
and the table's row count must be the recorded one plus the new caption ids among them, else something
was deleted (an in-place text edit drops a vector) and the copy is rebuilt.
It is also rebuilt once the newer vectors outgrow a tenth of it. Writes go to a temporary file that
replaces the old one atomically, so a reader that has the old one mapped keeps a consistent view. A
damaged file is ignored and rebuilt; where none can be written (a full disk), callers use SQLite.

File layout: a JSON header padded to 4 KiB, then the int8 codes (``count x dim``), then the float32
scales, then the int64 caption ids (ascending), each array starting at a 64-byte boundary. Codes first,
so a build streams them to disk and keeps only scales and ids (12 bytes a vector) in memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from alttext.atomic_write import write_atomically
from alttext.index.db import Index
from alttext.search.vectors import TIME_FORMAT, from_blobs

logger = logging.getLogger(__name__)

FORMAT = "alttext-vectors-2"
HEADER_BYTES = 4096
CODE_DTYPE, SCALE_DTYPE, ID_DTYPE = np.dtype("i1"), np.dtype("<f4"), np.dtype("<i8")
# Below this many vectors SQLite alone answers in well under a second: no file is written.
MIN_ROWS = 50_000
STALE_FRACTION = 0.1  # rebuild once this share of the copy has newer vectors in SQLite
READ_CHUNK = 65_536
SCORE_CHUNK = 8_192  # rows converted to float32 at a time: stays in cache, twice as fast as larger chunks
# A code is round(v / scale), so each component is off by at most scale / 2; the extra 1 % covers float32
# rounding in quantising and in the dot product.
ERROR_PER_SCALE = 0.51


@dataclass(frozen=True)
class VectorSnapshot:
    path: str
    model: str
    dim: int
    count: int
    built_max_created: str  # the newest created_at among the copied vectors, as stored in SQLite
    table_rows: int  # rows in caption_embeddings (every model) when the copy was built
    caption_ids: np.ndarray  # (count,) int64, ascending
    codes: np.ndarray  # (count, dim) int8, memory-mapped
    scales: np.ndarray  # (count,) float32: vector ~= codes * scale


@dataclass(frozen=True)
class FreshCopy:
    snapshot: VectorSnapshot
    newer_ids: np.ndarray  # caption ids whose vector was stored after the copy: score these from SQLite


# "+model": walk the primary key, not migration 0003's (model, dim, created_at) index plus a sort per chunk.
COPY_CHUNK_SQL = ("SELECT caption_id, vector FROM caption_embeddings WHERE +model = ? AND dim = ? AND caption_id > ?"
                  " ORDER BY caption_id LIMIT ?")
NEWER_SQL = "SELECT caption_id FROM caption_embeddings WHERE model = ? AND dim = ? AND created_at > ? LIMIT ?"


def snapshot_path(index: Index, model: str) -> str:
    """Beside the SQLite file; for a PostgreSQL index, in this machine's cache folder (one per database)."""
    digest = hashlib.sha1(model.encode("utf-8")).hexdigest()[:12]
    if index.dialect == "postgresql":
        import platformdirs

        database = hashlib.sha1(index.path.encode("utf-8")).hexdigest()[:12]
        folder = platformdirs.user_cache_path("alttext") / "vector-copies"
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder / f"postgresql-{database}.vectors-{digest}")
    return f"{index.path}.vectors-{digest}"


def _aligned(offset: int) -> int:
    return -(-offset // 64) * 64


def _layout(count: int, dim: int) -> tuple[int, int, int, int]:
    """Byte offsets of the codes, scales and ids, and the file's size."""
    codes_at = HEADER_BYTES
    scales_at = _aligned(codes_at + count * dim * CODE_DTYPE.itemsize)
    ids_at = _aligned(scales_at + count * SCALE_DTYPE.itemsize)
    return codes_at, scales_at, ids_at, ids_at + count * ID_DTYPE.itemsize


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and per-vector scales (largest component -> +-127)."""
    scales = np.abs(vectors).max(axis=1) / 127
    scales[scales == 0] = 1.0  # an all-zero vector: any scale gives zero codes
    codes = np.rint(vectors / scales[:, None]).astype(CODE_DTYPE)
    return codes, scales.astype(SCALE_DTYPE)


def load_snapshot(index: Index, model: str, dim: int) -> VectorSnapshot | None:
    """The copy on disk, mapped, if it exists and is intact (whether it is current is fresh_copy's job)."""
    path = snapshot_path(index, model)
    try:
        with open(path, "rb") as handle:
            header = json.loads(handle.read(HEADER_BYTES).rstrip(b" ").decode("utf-8"))
        if header.get("format") != FORMAT or header.get("model") != model or header.get("dim") != dim:
            return None
        count = int(header["count"])
        codes_at, scales_at, ids_at, size = _layout(count, dim)
        if count <= 0 or os.path.getsize(path) != size:
            return None  # damaged: the writer renames only complete files, but files get copied and cut
        return VectorSnapshot(
            path, model, dim, count, str(header["built_max_created"]), int(header["table_rows"]),
            caption_ids=np.memmap(path, dtype=ID_DTYPE, mode="r", offset=ids_at, shape=(count,)),
            codes=np.memmap(path, dtype=CODE_DTYPE, mode="r", offset=codes_at, shape=(count, dim)),
            scales=np.memmap(path, dtype=SCALE_DTYPE, mode="r", offset=scales_at, shape=(count,)),
        )
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def build_snapshot(index: Index, model: str, dim: int) -> VectorSnapshot | None:
    """Write a fresh copy of all the model's vectors; None when there are none or it can't be written."""
    path = snapshot_path(index, model)
    # One read transaction, so the header describes exactly the rows written.
    with index.read_sql() as raw:
        count, max_created = raw.execute(
            "SELECT count(*), max(created_at) FROM caption_embeddings WHERE model = ? AND dim = ?", (model, dim)
        ).fetchone()
        if not count:
            return None
        if isinstance(max_created, datetime):  # PostgreSQL's timestamp; SQLite hands back its text
            max_created = max_created.strftime(TIME_FORMAT)
        (table_rows,) = raw.execute("SELECT count(*) FROM caption_embeddings").fetchone()
        codes_at, scales_at, ids_at, _ = _layout(count, dim)
        header = json.dumps({"format": FORMAT, "model": model, "dim": dim, "count": count,
                             "built_max_created": max_created, "table_rows": table_rows}).encode("utf-8")

        def chunks() -> Iterator[bytes]:
            yield header.ljust(HEADER_BYTES, b" ")
            ids, scales, after = [], [], 0
            while rows := raw.execute(COPY_CHUNK_SQL, (model, dim, after, READ_CHUNK)).fetchall():
                codes, chunk_scales = quantize(from_blobs((row[1] for row in rows), dim))
                yield codes.tobytes()
                scales.append(chunk_scales)
                ids.append(np.fromiter((row[0] for row in rows), dtype=ID_DTYPE, count=len(rows)))
                after = int(ids[-1][-1])
            all_ids = np.concatenate(ids)
            if len(all_ids) != count:  # cannot happen inside one read transaction; never write a lying header
                raise OSError(f"read {len(all_ids)} vectors, expected {count}")
            yield b"\0" * (scales_at - codes_at - count * dim * CODE_DTYPE.itemsize)
            yield np.concatenate(scales).tobytes()
            yield b"\0" * (ids_at - scales_at - count * SCALE_DTYPE.itemsize)
            yield all_ids.tobytes()

        try:
            write_atomically(path, chunks())
        except OSError as error:  # a full disk, say: the index itself is untouched
            logger.info("semantic search runs without a vector copy: %s", error)
            return None
    logger.debug("wrote %d vectors to %s", count, path)
    return load_snapshot(index, model, dim)


def contains(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """For each of ``ids``: is it in ``sorted_ids`` (ascending)?"""
    ids = np.asarray(ids, dtype=np.int64)
    if len(sorted_ids) == 0:
        return np.zeros(len(ids), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return np.asarray(sorted_ids[at] == ids)


def _newer_ids(index: Index, snapshot: VectorSnapshot) -> np.ndarray | None:
    """Caption ids stored after the copy was built, or None when the copy is stale or too far behind."""
    limit = int(STALE_FRACTION * snapshot.count) + 1
    with index.read_sql() as raw:
        newer = np.array([row[0] for row in raw.execute(
            NEWER_SQL, (snapshot.model, snapshot.dim, snapshot.built_max_created, limit))], dtype=np.int64)
        (table_rows,) = raw.execute("SELECT count(*) FROM caption_embeddings").fetchone()
    if len(newer) >= limit:
        return None
    added = int(np.count_nonzero(~contains(snapshot.caption_ids, newer)))
    if table_rows != snapshot.table_rows + added:
        return None  # a vector was deleted (or another model's changed): rebuild rather than guess
    return np.sort(newer)


def fresh_copy(index: Index, model: str, dim: int, *, min_rows: int = MIN_ROWS) -> FreshCopy | None:
    """The copy, rebuilt first if stale, with the ids to read from SQLite instead; None below ``min_rows``
    vectors or when no copy can be written: then SQLite alone answers."""
    snapshot = load_snapshot(index, model, dim)
    if snapshot is not None:
        newer = _newer_ids(index, snapshot)
        if newer is not None:
            return FreshCopy(snapshot, newer)
    else:
        with index.read_sql() as connection:
            total = connection.scalar("SELECT count(*) FROM caption_embeddings WHERE model = :model AND dim = :dim",
                                      {"model": model, "dim": dim}) or 0
        if total < min_rows:
            return None
    snapshot = build_snapshot(index, model, dim)
    if snapshot is None:
        return None
    newer = _newer_ids(index, snapshot)  # whatever was stored while the copy was written
    return FreshCopy(snapshot, newer) if newer is not None else None


def approximate_scores(snapshot: VectorSnapshot, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(score, error bound) for every vector of the copy: the exact dot product with ``query`` lies within
    score +- bound."""
    query = np.asarray(query, dtype=np.float32).reshape(-1)
    scores = np.empty(snapshot.count, dtype=np.float32)
    for start in range(0, snapshot.count, SCORE_CHUNK):
        stop = min(start + SCORE_CHUNK, snapshot.count)
        scores[start:stop] = snapshot.codes[start:stop].astype(np.float32) @ query
    scales = np.asarray(snapshot.scales)
    scores *= scales
    bounds = scales * np.float32(ERROR_PER_SCALE * float(np.abs(query).sum()))
    return scores, bounds
