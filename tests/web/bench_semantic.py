"""Cost of brute-force semantic search on synthetic vectors (not collected by pytest: run it by hand).

    python tests/web/bench_semantic.py --rows 1000000 --db /tmp/bench.sqlite3

Builds an index with N images, each with one present file, one caption and a random unit vector
(384 float32, like all-MiniLM-L6-v2), then times ``top_captions`` (the query-time scan) with and without
a folder filter. Measured on the 2-core development machine, busy with other jobs (load ~5):

    10^6 rows: build 163 s, index file 2.4 GiB (1.5 GiB of it vectors)
    top_captions, all rows: 4.0 s best / 4.1 s median; below one folder (1% of files): 2.2 s
    the matrix product and top-k alone, in memory: 0.1 s
    10^5 rows: 0.9 s / 0.5 s

So the cost is SQLite handing out a million rows (about 4 microseconds each), not the arithmetic. If
that becomes too slow, a float16 sidecar matrix (memory-mapped, rebuilt when the embeddings change)
would bring a query near the in-memory figure.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import time

import numpy as np

from alttext.index.db import Index
from alttext.web.semantic import top_captions


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", default="/tmp/alttext-bench.sqlite3")
    parser.add_argument("--rebuild", action="store_true")
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
        for label, under in (("all", None), ("one folder of 100", "/photos/07")):
            timings = []
            for _ in range(3):
                started = time.perf_counter()
                top = top_captions(index, query, "bench", k=60, under=under, min_score=-1.0)
                timings.append(time.perf_counter() - started)
            print(f"top_captions {label}: best {min(timings):.2f} s, median {sorted(timings)[1]:.2f} s"
                  f" ({len(top)} results)")
    vectors = np.random.default_rng(2).standard_normal((args.rows, 384), dtype=np.float32)
    started = time.perf_counter()
    scores = vectors @ query
    np.argpartition(-scores, 59)[:60]
    print(f"in-memory matrix product + top-k alone: {time.perf_counter() - started:.3f} s")


if __name__ == "__main__":
    main()
