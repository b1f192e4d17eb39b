"""Semantic search at library scale: vectors scanned from SQLite vs the memory-mapped copy.

    python bench/semantic_bench.py --rows 1000000 --db /tmp/alttext-semantic.sqlite3

Builds (once; --rebuild to redo) an index with N images, each with one present file, one caption and a
random unit vector (384 float32, like all-MiniLM-L6-v2), then times ``top_captions`` in one run both
ways: straight from SQLite (the baseline: the copy switched off) and through the copy
(alttext/web/vector_snapshot.py), for all captions, below one folder (1 % of the files) and below a
folder with no files (every candidate checked: the copy's worst case). ``min_score`` is -1, so every
vector is a candidate. It also times building the copy and prints its size. The last line is
``speedup: <SQLite / copy, all captions, median>``; the two must return the same captions (asserted).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import time
from collections.abc import Callable

import numpy as np

from alttext.index.db import Index
from alttext.search.semantic import top_captions
from alttext.search.vector_copy import fresh_copy, snapshot_path


def build(path: str, rows: int, dim: int = 384, batch: int = 50_000) -> None:
    Index(path).close()  # create the schema through the migrations
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = OFF")
    rng = np.random.default_rng(0)
    now = "2026-11-22 00:00:00.000000"
    for start in range(1, rows + 1, batch):
        ids = range(start, min(start + batch, rows + 1))
        vectors = rng.standard_normal((len(ids), dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO images (id, pixel_hash, width, height, caption_id, created_at) VALUES (?, ?, 1, 1, ?, ?)",
            [(i, f"{i:040x}", i, now) for i in ids])
        connection.executemany(
            "INSERT INTO captions (id, image_id, text, source, status, created_at)"
            " VALUES (?, ?, ?, 'model', 'generated', ?)",
            [(i, i, f"caption {i}", now) for i in ids])
        connection.executemany(
            "INSERT INTO files (id, path, dir, name, dev, inode, size, mtime_ns, image_id, state, seen_at)"
            " VALUES (?, ?, ?, ?, 0, ?, 1, 0, ?, 'indexed', ?)",
            [(i, os.fsencode(f"/photos/{i % 100:02d}/{i}.jpg"), os.fsencode(f"/photos/{i % 100:02d}"),
              f"{i}.jpg", i, i, now) for i in ids])
        connection.executemany(
            "INSERT INTO caption_embeddings (caption_id, model, dim, vector, created_at) VALUES (?, 'bench', ?, ?, ?)",
            [(i, dim, vector.astype("<f4").tobytes(), now) for i, vector in zip(ids, vectors, strict=True)])
        connection.execute("COMMIT")
    connection.close()


def _timed(repeats: int, call: Callable[[], list[tuple[int, float]]]) -> tuple[float, list[tuple[int, float]]]:
    timings, result = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", default="/tmp/alttext-semantic.sqlite3")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.rebuild or not os.path.exists(args.db):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(args.db + suffix):
                os.remove(args.db + suffix)
        started = time.perf_counter()
        build(args.db, args.rows)
        print(f"built {args.rows} rows in {time.perf_counter() - started:.1f} s,"
              f" {os.path.getsize(args.db) / 2**20:.0f} MiB")
    query = np.random.default_rng(1).standard_normal(384).astype(np.float32)
    query /= np.linalg.norm(query)
    with Index(args.db) as index:
        copy = snapshot_path(index, "bench")
        if os.path.exists(copy):
            os.remove(copy)
        started = time.perf_counter()
        copy_made = fresh_copy(index, "bench", 384, min_rows=1)
        assert copy_made is not None, "the copy could not be written"
        print(f"copy built in {time.perf_counter() - started:.1f} s: {copy_made.snapshot.count} vectors,"
              f" {os.path.getsize(copy) / 2**20:.0f} MiB")
        ratios = {}
        for label, under in (("all", None), ("one folder of 100", "/photos/07"), ("empty folder", "/nowhere")):
            def search(use_copy: bool, under: str | None = under) -> list[tuple[int, float]]:
                return top_captions(index, query, "bench", k=60, under=under, min_score=-1.0,
                                    snapshot_min_rows=1, use_copy=use_copy)

            sqlite_s, expected = _timed(args.repeats, lambda: search(False))
            copy_s, got = _timed(args.repeats, lambda: search(True))
            # The copy only ranks candidates; the results are re-scored from SQLite's float32 vectors.
            assert [i for i, _ in got] == [i for i, _ in expected], (label, got[:5], expected[:5])
            assert np.allclose([s for _, s in got], [s for _, s in expected], rtol=1e-5)
            ratios[label] = sqlite_s / copy_s
            print(f"{label}: SQLite {sqlite_s:.2f} s, copy {copy_s:.3f} s ({len(got)} results),"
                  f" ratio {ratios[label]:.1f}")
    print(f"speedup: {ratios['all']:.1f}")


if __name__ == "__main__":
    main()
