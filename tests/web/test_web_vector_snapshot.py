"""The memory-mapped vector copy behind semantic search: same answers as the database, kept in step, never
trusted when stale or damaged, and never required (a full disk just means the database answers). On SQLite
and PostgreSQL; "SQLite" below stands for either."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from alttext.index.db import Index, driver_connection
from alttext.search import semantic
from alttext.search import vector_copy as vector_snapshot
from alttext.search import vectors as embeddings
from alttext.search.semantic import top_captions
from alttext.search.vector_copy import approximate_scores, fresh_copy, load_snapshot, snapshot_path
from alttext.search.vectors import to_blob

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)

MODEL, DIM = "synthetic", 16
NOW = "2026-11-23 00:00:00.000000"
LATER = "2026-11-23 00:00:01.000000"


def _vector(rng: np.random.Generator) -> np.ndarray:
    # Eighths in [-1, 1]: exact in float16, and their dot products are exact in float32, so the copy
    # and SQLite must agree on every score, ties (broken by caption id) included.
    return rng.integers(-8, 9, DIM).astype(np.float32) / 8


def _sql(index: Index, sql: str, params: tuple | dict = ()) -> list[tuple]:  # type: ignore[type-arg]
    """One statement (sqlite3's ``?``/``:name`` styles) in its own write transaction, on either backend; its
    rows."""
    with index.write() as connection:
        cursor = driver_connection(connection).execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


def _plant(index: Index, images: int, *, seed: int = 0, first_id: int = 1, created_at: str = NOW) -> None:
    """``images`` images, each with one present file under /lib/a or /lib/b and a current caption with a
    vector. Every 7th image also has an older, superseded caption with a vector; every 5th file is missing;
    every 3rd caption is approved."""
    rng = np.random.default_rng(seed)
    with index.write() as outer:
        connection = driver_connection(outer)
        for image in range(first_id, first_id + images):
            current, old = 2 * image, 2 * image - 1
            connection.execute("INSERT INTO images (id, pixel_hash, width, height, created_at) VALUES (?, ?, 1, 1, ?)",
                               (image, f"{image:040x}", NOW))
            for caption in ((old, current) if image % 7 == 0 else (current,)):
                status = "approved" if caption % 3 == 0 else "generated"
                connection.execute("INSERT INTO captions (id, image_id, text, source, status, created_at)"
                                   " VALUES (?, ?, ?, 'model', ?, ?)",
                                   (caption, image, f"caption {caption}", status, NOW))
                connection.execute("INSERT INTO caption_embeddings (caption_id, model, dim, vector, created_at)"
                                   " VALUES (?, ?, ?, ?, ?)", (caption, MODEL, DIM, to_blob(_vector(rng)), created_at))
            connection.execute("UPDATE images SET caption_id = ? WHERE id = ?", (current, image))
            folder = "/lib/a" if image % 2 else "/lib/b"
            connection.execute(
                "INSERT INTO files (id, path, dir, name, dev, inode, size, mtime_ns, image_id, state, seen_at)"
                " VALUES (?, ?, ?, ?, 0, ?, 1, 0, ?, ?, ?)",
                (image, os.fsencode(f"{folder}/{image}.jpg"), os.fsencode(folder), f"{image}.jpg", image, image,
                 "missing" if image % 5 == 0 else "indexed", NOW))


def _set_vector(index: Index, caption_id: int, vector: np.ndarray, created_at: str = LATER) -> None:
    with index.write() as outer:
        connection = driver_connection(outer)
        connection.execute("DELETE FROM caption_embeddings WHERE caption_id = ?", (caption_id,))
        connection.execute("INSERT INTO caption_embeddings (caption_id, model, dim, vector, created_at)"
                           " VALUES (?, ?, ?, ?, ?)", (caption_id, MODEL, DIM, to_blob(vector), created_at))


BEST = np.full(DIM, 2.0, dtype=np.float32)  # scores 32 against a query of ones: beats any planted vector


def _both(index: Index, query: np.ndarray, **filters: object) -> tuple[list, list]:
    """(through the copy, straight from SQLite)."""
    with_copy = top_captions(index, query, MODEL, snapshot_min_rows=1, **filters)
    without = top_captions(index, query, MODEL, use_copy=False, **filters)
    return with_copy, without


@pytest.fixture(scope="module")
def _planted_once(module_db: Path | str) -> Path | str:
    with Index(module_db) as index:
        _plant(index, 1500)
    return module_db


@pytest.fixture
def planted(_planted_once: Path | str, copy_of_index: Callable[[Path | str], Path | str]) -> Iterator[Index]:
    """A copy of the 1,500 planted images for this test (planting per test takes seconds on PostgreSQL)."""
    with Index(copy_of_index(_planted_once)) as index:
        yield index


def _inode(index: Index) -> int:
    return os.stat(snapshot_path(index, MODEL)).st_ino


@pytest.mark.parametrize("filters", [
    {"k": 10}, {"k": 200}, {"k": 25, "under": "/lib/a"}, {"k": 25, "status": "approved"},
    {"k": 5, "under": "/lib/b", "status": "approved"}, {"k": 10, "min_score": 1.5},
])
def test_the_copy_gives_exactly_what_sqlite_gives(planted: Index, filters: dict[str, object]) -> None:
    filters.setdefault("min_score", -100.0)
    rng = np.random.default_rng(42)
    for _ in range(5):
        query = _vector(rng)
        with_copy, without = _both(planted, query, **filters)
        assert with_copy == without
        assert len(without) == (filters["k"] if filters["min_score"] < 0 else len(without))
    assert os.path.exists(snapshot_path(planted, MODEL))


def test_only_searchable_captions_come_back(planted: Index) -> None:
    ranked = top_captions(planted, _vector(np.random.default_rng(1)), MODEL, k=5000, min_score=-100.0,
                          snapshot_min_rows=1)
    ids = {caption_id for caption_id, _ in ranked}
    # current captions (even ids) of images whose file is present (image id not a multiple of 5)
    assert ids == {2 * image for image in range(1, 1501) if image % 5}


def test_small_indexes_write_no_copy(planted: Index) -> None:
    top_captions(planted, _vector(np.random.default_rng(1)), MODEL, k=5)  # default threshold: 50,000 vectors
    assert not os.path.exists(snapshot_path(planted, MODEL))


def test_newer_vectors_are_read_from_sqlite_until_they_are_many(planted: Index) -> None:
    query = np.ones(DIM, dtype=np.float32)
    top_captions(planted, query, MODEL, k=1, snapshot_min_rows=1)
    built = _inode(planted)
    _plant(planted, 10, first_id=2001, seed=7, created_at=LATER)
    _set_vector(planted, 2 * 2001, BEST)  # the new best match
    assert top_captions(planted, query, MODEL, k=1, snapshot_min_rows=1) == [(4002, 32.0)]
    with_copy, without = _both(planted, query, k=30, min_score=-100.0)
    assert with_copy == without
    assert _inode(planted) == built  # 10 newer vectors: the copy still serves the rest

    _plant(planted, 300, first_id=3001, seed=8, created_at=LATER)  # now over a tenth of the copy: rebuilt
    with_copy, without = _both(planted, query, k=30, min_score=-100.0)
    assert with_copy == without and with_copy[0] == (4002, 32.0)
    assert _inode(planted) != built
    [(stored,)] = _sql(planted, "SELECT count(*) FROM caption_embeddings")
    assert load_snapshot(planted, MODEL, DIM).count == stored == 1500 + 214 + 10 + 2 + 300 + 43  # + superseded


@pytest.mark.parametrize("change", ["updated in place", "deleted and stored again", "backfilled", "dropped"])
def test_changed_vectors_come_from_sqlite_and_a_deletion_rebuilds(planted: Index, change: str) -> None:
    if change == "backfilled":  # caption 6 has no vector when the copy is built, and gets one later
        _sql(planted, "DELETE FROM caption_embeddings WHERE caption_id = 6")
    query = np.ones(DIM, dtype=np.float32)
    top_captions(planted, query, MODEL, k=1, snapshot_min_rows=1)
    built = _inode(planted)
    with planted.write() as outer:
        connection = driver_connection(outer)
        if change == "updated in place":  # same ids, same count: only created_at tells
            connection.execute("UPDATE caption_embeddings SET vector = ?, created_at = ? WHERE caption_id = 2",
                               (to_blob(BEST), LATER))
        elif change == "deleted and stored again":
            connection.execute("DELETE FROM caption_embeddings WHERE caption_id = 4")
            connection.execute("INSERT INTO caption_embeddings (caption_id, model, dim, vector, created_at)"
                               " VALUES (4, ?, ?, ?, ?)", (MODEL, DIM, to_blob(BEST), LATER))
        elif change == "backfilled":
            connection.execute("INSERT INTO caption_embeddings (caption_id, model, dim, vector, created_at)"
                               " VALUES (6, ?, ?, ?, ?)", (MODEL, DIM, to_blob(BEST), LATER))
        else:  # an in-place text edit drops the vector (trigger from migration 0002); no newer row says so
            connection.execute("UPDATE caption_embeddings SET vector = ? WHERE caption_id = 8", (to_blob(BEST),))
            connection.execute("UPDATE captions SET text = 'edited in place' WHERE id = 8")
    with_copy, without = _both(planted, query, k=20, min_score=-100.0)
    assert with_copy == without
    expected_first = {"updated in place": 2, "deleted and stored again": 4, "backfilled": 6}
    if change in expected_first:
        assert with_copy[0] == (expected_first[change], 32.0)
        assert _inode(planted) == built  # the copy serves everything else
    else:
        assert 8 not in {caption_id for caption_id, _ in with_copy} and with_copy[0][1] < 32.0
        assert _inode(planted) != built  # rebuilt without the dropped vector
        assert not np.isin(8, load_snapshot(planted, MODEL, DIM).caption_ids)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "other model"])
def test_a_damaged_copy_is_ignored_and_rebuilt(planted: Index, damage: str) -> None:
    query = _vector(np.random.default_rng(3))
    top_captions(planted, query, MODEL, k=1, snapshot_min_rows=1)
    path = snapshot_path(planted, MODEL)
    if damage == "truncated":
        os.truncate(path, os.path.getsize(path) - 1)
    elif damage == "garbage":
        Path(path).write_bytes(os.urandom(8192))
    elif damage == "empty":
        Path(path).write_bytes(b"")
    else:
        Path(path).write_bytes(Path(path).read_bytes().replace(MODEL.encode(), b"synthetiX", 1))
    assert load_snapshot(planted, MODEL, DIM) is None
    with_copy, without = _both(planted, query, k=50, min_score=-100.0)
    assert with_copy == without
    assert load_snapshot(planted, MODEL, DIM) is not None


def test_a_full_disk_means_sqlite_answers(planted: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(path: str, chunks: object) -> None:
        for _ in chunks:  # type: ignore[attr-defined]
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(vector_snapshot, "write_atomically", no_space)
    query = _vector(np.random.default_rng(4))
    with_copy, without = _both(planted, query, k=40, min_score=-100.0)
    assert with_copy == without
    assert fresh_copy(planted, MODEL, DIM, min_rows=1) is None
    assert not os.path.exists(snapshot_path(planted, MODEL))
    folder = os.path.dirname(snapshot_path(planted, MODEL))  # beside the SQLite file, or the cache folder
    assert not [name for name in os.listdir(folder) if "vectors" in name]


def test_the_copy_holds_int8_codes_whose_error_stays_within_the_bound(index: Index) -> None:
    _plant(index, 300)
    rng = np.random.default_rng(5)
    ids = [row[0] for row in _sql(index, "SELECT caption_id FROM caption_embeddings")]
    vectors = rng.standard_normal((len(ids), DIM)).astype(np.float32) * rng.uniform(0.01, 10, (len(ids), 1))
    vectors[0] = 0.0
    with index.write() as outer:  # real-valued vectors now (planted ones are exact eighths)
        connection = driver_connection(outer)
        for vector, caption_id in zip(vectors, ids, strict=True):
            connection.execute("UPDATE caption_embeddings SET vector = ? WHERE caption_id = ?",
                               (to_blob(vector), caption_id))
    copy = fresh_copy(index, MODEL, DIM, min_rows=1)
    assert copy is not None and len(copy.newer_ids) == 0
    snapshot = copy.snapshot
    assert snapshot.codes.dtype == np.int8 and snapshot.codes.shape == (len(ids), DIM)
    assert np.all(np.diff(snapshot.caption_ids) > 0) and sorted(ids) == snapshot.caption_ids.tolist()
    exact = dict(zip(ids, vectors, strict=True))
    for query in rng.standard_normal((20, DIM)).astype(np.float32):
        approx, bound = approximate_scores(snapshot, query)
        truth = np.array([exact[int(i)] @ query for i in snapshot.caption_ids])
        assert np.all(np.abs(approx - truth) <= bound)
        assert np.median(bound / (np.abs(truth) + 1e-9)) < 0.2  # and the bound is useful, not vacuous
        with_copy, without = _both(index, query, k=15, min_score=-1e9)
        assert [i for i, _ in with_copy] == [i for i, _ in without]
        assert np.allclose([s for _, s in with_copy], [s for _, s in without], rtol=1e-5)


def test_candidates_whose_approximation_says_little_are_still_rescored(planted: Index) -> None:
    """Half the vectors are one huge component plus small ones that round to code 0: their approximate
    score against a query orthogonal to the spike is 0 with a wide bound, yet they hold the true top k.
    Stopping at the first batch, or trusting approximate scores, would return the wrong captions."""
    rng = np.random.default_rng(9)
    ids = [row[0] for row in _sql(planted, "SELECT caption_id FROM caption_embeddings")]
    with planted.write() as outer:
        connection = driver_connection(outer)
        for caption_id in ids:
            if rng.random() < 0.5:
                vector = np.concatenate([[127.0], rng.uniform(-0.45, 0.45, DIM - 1)]).astype(np.float32)
            else:
                vector = _vector(rng) * np.float32(0.3)
            connection.execute("UPDATE caption_embeddings SET vector = ? WHERE caption_id = ?",
                               (to_blob(vector), caption_id))
    query = np.concatenate([[0.0], np.ones(DIM - 1)]).astype(np.float32)
    for k, min_score in ((1, -100.0), (20, -100.0), (300, -100.0), (20, 1.0)):
        with_copy, without = _both(planted, query, k=k, min_score=min_score)
        assert len(without) == k
        assert [i for i, _ in with_copy] == [i for i, _ in without]
        assert np.allclose([s for _, s in with_copy], [s for _, s in without], rtol=1e-6)


def _plan(index: Index, sql: str, params: tuple | dict) -> str:  # type: ignore[type-arg]
    return " ".join(row[-1] for row in _sql(index, "EXPLAIN QUERY PLAN " + sql, params))


@pytest.mark.sqlite_only("SQLite's query plans (EXPLAIN QUERY PLAN)")
def test_each_query_uses_the_index_it_was_written_for(index: Index) -> None:
    """At 10^6 rows a wrong plan costs seconds: the freshness check must read only migration 0003's index,
    the chunked reads must walk the primary key (not that index plus a sort per chunk), and a folder
    filter must probe the folder's path range."""
    assert "COVERING INDEX ix_caption_embeddings_model_dim_created" in _plan(
        index, vector_snapshot.NEWER_SQL, (MODEL, DIM, NOW, 10))
    assert _plan(index, vector_snapshot.COPY_CHUNK_SQL, (MODEL, DIM, 0, 10)) == (
        "SEARCH caption_embeddings USING INTEGER PRIMARY KEY (rowid>?)")
    for under, status in ((None, None), ("/lib/a", None), (None, "approved"), ("/lib/a", "approved")):
        params: dict[str, object] = {"model": MODEL, "dim": DIM, "after": 0, "limit": 10}
        plan = _plan(index, semantic._exact_scores_sql("e.caption_id > :after", under, status, params), params)
        assert plan.startswith("SEARCH e USING INTEGER PRIMARY KEY (rowid>?)") and "TEMP B-TREE" not in plan, plan
    params = {}
    plan = _plan(index, semantic._allowed_captions_sql("/lib/a", "approved", params), params)
    assert plan.startswith("SEARCH f USING INDEX sqlite_autoindex_files_1 (path>? AND path<?)"), plan


class _ConstantEncoder:
    """Every text gets the same vector: enough to store a known vector through the real code path."""

    name, dim = MODEL, DIM

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return np.tile(self.vector, (len(texts), 1))


def test_vectors_stored_while_the_clock_is_behind_still_count_as_newer(
    planted: Index, monkeypatch: pytest.MonkeyPatch,
) -> None:
    query = np.ones(DIM, dtype=np.float32)
    top_captions(planted, query, MODEL, k=1, snapshot_min_rows=1)
    built = _inode(planted)
    monkeypatch.setattr(embeddings, "utcnow", lambda: datetime(2020, 1, 1, tzinfo=UTC))  # years behind
    assert embeddings.compute_vectors(planted, [2], encoder=_ConstantEncoder(BEST)) == 1
    [(stamp,)] = _sql(planted, "SELECT created_at FROM caption_embeddings WHERE caption_id = 2")
    assert str(stamp) == "2026-11-23 00:00:00.000001"  # one microsecond after the newest, not 2020
    with_copy, without = _both(planted, query, k=5, min_score=-100.0)
    assert with_copy == without and with_copy[0] == (2, 32.0)
    assert _inode(planted) == built  # read from SQLite as a newer vector; the copy still serves the rest
