"""Storing sentence embeddings of captions in the index (table ``caption_embeddings``, migration 0002).

Only an image's *current* caption is searched, so only current captions are embedded. The work runs in
batches after captioning (``compute_pending_vectors``, called by ``alttext scan`` when the `semantic`
extra is installed) and for single new captions right after an edit (``compute_vectors``). Vectors are
computed outside any transaction; each batch is then stored in one short write transaction, and only
if the caption still has the text that was embedded (a concurrent edit wins, its vector comes later).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import numpy as np

from alttext.index.db import Index
from alttext.index.dbapi import SQLITE_TIME_FORMAT

if TYPE_CHECKING:
    from sqlalchemy import Connection


def utcnow() -> datetime:
    """Now, in UTC (as alttext.index.models.utcnow)."""
    return datetime.now(UTC)


DEFAULT_BATCH = 64


class Encoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = ...) -> np.ndarray: ...


def to_blob(vector: np.ndarray) -> bytes:
    """Little-endian float32 bytes, whatever the machine's byte order."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blobs(blobs: Iterable[bytes], dim: int) -> np.ndarray:
    """Many vectors at once: one join and one frombuffer instead of an array per row."""
    joined = b"".join(blobs)
    return np.frombuffer(joined, dtype="<f4").reshape(-1, dim)


_PENDING = """
    SELECT c.id AS id, c.text AS text
    FROM captions c
    JOIN images i ON i.caption_id = c.id
    LEFT JOIN caption_embeddings e ON e.caption_id = c.id AND e.model = :model AND e.dim = :dim
    WHERE c.id > :after AND e.caption_id IS NULL AND i.vector_owner IS NULL
    ORDER BY c.id
    LIMIT :limit
"""

# Stored only if the caption still says what was embedded: an edit in between keeps its own (later) vector.
_STORE = """
    INSERT INTO caption_embeddings (caption_id, model, dim, vector, created_at)
    SELECT :id, :model, :dim, :vector, :created_at
    WHERE EXISTS (SELECT 1 FROM captions WHERE id = :id AND text = :text)
    ON CONFLICT (caption_id) DO UPDATE SET model = excluded.model, dim = excluded.dim, vector = excluded.vector,
        created_at = excluded.created_at
"""

# The picture is done (migration 0010: workers claim pictures whose current caption has no vector); a
# worker's claim on it ends, so whoever stored first wins and the claimer's compare-and-set stores nothing.
_DONE = """
    UPDATE images SET vectored_caption_id = :id, vector_owner = NULL
    WHERE caption_id = :id AND EXISTS (SELECT 1 FROM captions WHERE id = :id AND text = :text)
"""


TIME_FORMAT = SQLITE_TIME_FORMAT  # SQLAlchemy's own SQLite DATETIME format


def _store(index: Index, encoder: Encoder, rows: list[tuple[int, str]], batch_size: int,
           settle: Callable[[Connection], set[int]] | None = None) -> int:
    """Encode ``rows`` (caption id, text) and store the vectors. ``settle`` (a worker's compare-and-set,
    index/leases.py) runs first inside the write transaction and says which caption ids may be stored."""
    from sqlalchemy import text  # a write: through the write engine (search itself needs no SQLAlchemy)

    vectors = encoder.encode([caption for _, caption in rows], batch_size=batch_size)
    params = [
        {"id": caption_id, "text": caption, "model": encoder.name, "dim": encoder.dim, "vector": to_blob(vector)}
        for (caption_id, caption), vector in zip(rows, vectors, strict=True)
    ]
    with index.write() as connection:
        if settle is not None:
            keep = settle(connection)
            params = [row for row in params if row["id"] in keep]
            if not params:
                return 0
        # created_at only ever grows, even if the clock steps back: the vector copy of semantic search
        # (vector_copy.py) finds what was stored after it by created_at.
        latest = connection.execute(text(
            "SELECT max(created_at) FROM caption_embeddings WHERE model = :model AND dim = :dim"
        ), {"model": encoder.name, "dim": encoder.dim}).scalar()
        stamp = utcnow().replace(tzinfo=None)
        if isinstance(latest, str):  # SQLite's DATETIME is text; PostgreSQL's timestamp comes back a datetime
            latest = datetime.strptime(latest, TIME_FORMAT)
        if latest and latest >= stamp:
            stamp = latest + timedelta(microseconds=1)
        for row in params:
            row["created_at"] = stamp.strftime(TIME_FORMAT)
        connection.execute(text(_STORE), params)
        connection.execute(text(_DONE), [{"id": row["id"], "text": row["text"]} for row in params])
    return len(params)


def store_claimed_vectors(index: Index, encoder: Encoder, rows: list[tuple[int, str]],
                          settle: Callable[[Connection], set[int]], batch_size: int = DEFAULT_BATCH) -> int:
    """A worker's batch: vectors for ``rows`` (caption id, text), stored only for the caption ids ``settle``
    keeps inside the storing transaction; how many were stored."""
    return _store(index, encoder, rows, batch_size, settle)


def vectors_pending(index: Index, encoder_name: str, dim: int) -> int:
    """Current captions without a vector from this encoder."""
    with index.read_sql() as connection:
        return int(connection.scalar("""
            SELECT count(*) FROM images i
            LEFT JOIN caption_embeddings e ON e.caption_id = i.caption_id AND e.model = :model AND e.dim = :dim
            WHERE i.caption_id IS NOT NULL AND e.caption_id IS NULL
        """, {"model": encoder_name, "dim": dim}) or 0)


def compute_pending_vectors(
    index: Index,
    batch_size: int = DEFAULT_BATCH,
    *,
    encoder: Encoder | None = None,
    on_progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Embed every current caption that has no vector yet; returns how many were stored.

    Safe to interrupt (each batch is committed) and to re-run (it continues where it stopped). Raises
    ``EncoderUnavailable`` when the `semantic` extra is not installed: callers check
    ``semantic_available()`` first.
    """
    if encoder is None:
        from alttext.search.encoder import default_encoder

        encoder = default_encoder()
    stored, after = 0, 0
    while not (should_stop and should_stop()):
        with index.read_sql() as connection:
            rows = [(int(caption_id), str(caption)) for caption_id, caption in connection.execute(
                _PENDING, {"model": encoder.name, "dim": encoder.dim, "after": after, "limit": batch_size})]
        if not rows:
            break
        after = rows[-1][0]
        count = _store(index, encoder, rows, batch_size)
        stored += count
        if on_progress:
            on_progress(count)
    return stored


def compute_vectors(
    index: Index, caption_ids: Iterable[int], *, encoder: Encoder | None = None, missing_only: bool = False,
) -> int:
    """Embed these captions now (after an edit or approval). ``missing_only`` skips captions that already
    have a vector, and then the model is not even loaded when there is nothing to do."""
    ids = sorted({int(i) for i in caption_ids})
    if not ids:
        return 0
    from alttext.search.encoder import MODEL_NAME

    name = encoder.name if encoder is not None else MODEL_NAME
    skip = " AND NOT EXISTS (SELECT 1 FROM caption_embeddings e WHERE e.caption_id = captions.id AND e.model = :model)"
    with index.read_sql() as connection:
        rows = [
            (int(caption_id), str(caption))
            for caption_id, caption in connection.execute(
                "SELECT id, text FROM captions WHERE id IN (" + ",".join(map(str, ids)) + ")"
                + (skip if missing_only else ""),
                {"model": name},
            )
        ]
    if not rows:
        return 0
    if encoder is None:
        from alttext.search.encoder import default_encoder

        encoder = default_encoder()
    return _store(index, encoder, rows, DEFAULT_BATCH)


def vector_count(index: Index, encoder_name: str | None = None) -> int:
    """Vectors stored (for one encoder, or all)."""
    sql = "SELECT count(*) FROM caption_embeddings" + (" WHERE model = :model" if encoder_name else "")
    with index.read_sql() as connection:
        return int(connection.scalar(sql, {"model": encoder_name}) or 0)


def has_vectors(index: Index, encoder_name: str) -> bool:
    with index.read_sql() as connection:
        return connection.execute(
            "SELECT 1 FROM caption_embeddings WHERE model = :model LIMIT 1", {"model": encoder_name}
        ).fetchone() is not None
