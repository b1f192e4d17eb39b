"""Full-text search at scale on both backends (issue 17): SQLite's FTS5 table and PostgreSQL's tsvector + GIN,
the same synthetic captions in each, the same queries through the real search API, timed in the same run.

    python bench/fts_scale_bench.py                      # 1,000,000 captions, both backends
    python bench/fts_scale_bench.py --rows 100000        # quicker
    python bench/fts_scale_bench.py --backends postgresql --rows 1000000 --json /tmp/fts.json

1. Build: N images, each with one caption (index_bench.py's alt-text generator: subjects, colours, actions,
   places; about 1 in 1,000 also names a rare object) and one file (folders of 1,000, capture dates over
   2005-2024 in id order, a tenth without one). SQLite: executemany in batches of 50,000 rows, the FTS5
   triggers maintaining the search table as ingest does, then FTS5 'optimize'. PostgreSQL: COPY in one
   stream per table with triggers off (``session_replication_role = replica``), then the search table
   rebuilt in one statement as ``alttext db copy`` does (``index/copy.py``), then VACUUM ANALYZE (what
   autovacuum reaches). The build time of each is printed; the methods differ, the tables do not.
2. Search: per query kind, ``--queries`` queries (plus a warm-up) through ``Library.search(mode="words")``:
   the CLI's and the web app's path, dates included. Each query runs on both backends one after the
   other, alternating which goes first, so a busy machine slows both alike. Kinds: one word (a subject),
   two words (a colour and a subject), a phrase (subject, action and place, noise words included), a rare
   word (~50 captions per million), a common word (an action: ~10 % of captions), and words with a year
   ("dog 2015": the capture-date filter). Prints p50/p95 per kind and backend, and PostgreSQL/SQLite.
3. Size on disk: the SQLite file (and its FTS5 tables, where SQLite has the dbstat table), the PostgreSQL
   database (``pg_database_size``), its search table and that table's GIN index.

The PostgreSQL server is a throwaway one started by the bench on 127.0.0.1 (tests/pg_kit.py: initdb into
a temporary folder, as ``nobody`` when run as root, fsync off: it only speeds up the build), with the
server's default memory settings (shared_buffers 128 MB). Memory stays flat: rows are generated and sent
in batches (SQLite) or streamed (COPY).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from index_bench import ACTIONS, COLOURS, PLACES, SUBJECTS, _taken_at, synthetic_caption
from sqlalchemy import text

from alttext.index.copy import _rebuild_search
from alttext.index.db import Index
from alttext.library import Library, load_settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import pg_kit  # tests/pg_kit.py: the throwaway server

RARE = ["xylophone", "saxophone", "lighthouse", "windmill", "cathedral", "flamingo", "kayak", "telescope",
        "accordion", "tractor", "igloo", "volcano", "harp", "gondola", "origami", "chandelier", "cactus", "parrot",
        "snowman", "carousel"]
KINDS = ["one word", "two words", "phrase", "rare word", "common word", "with a year"]
BATCH = 50_000
NOW = datetime(2026, 11, 23)


def caption(rng: random.Random) -> str:
    text_ = synthetic_caption(rng)
    if rng.random() < 0.001:  # a rare object: about 50 captions per million for each of the 20 words
        text_ = text_[:-1] + f" beside a {rng.choice(RARE)}."
    return text_


def rows(count: int, seed: int) -> Iterator[tuple[int, str, bytes, bytes, str, str, str]]:
    """(id, caption, path, dir, name, folder, taken_at) for images 1..count: the same on both backends."""
    rng = random.Random(seed)
    for i in range(1, count + 1):
        folder = f"{i // 1000:04}"
        name = f"IMG_{i:07}.jpg"
        yield (i, caption(rng), f"/photos/{folder}/{name}".encode(), f"/photos/{folder}".encode(), name, folder,
               _taken_at(i, count))


def query_set(kind: str, rng: random.Random, count: int) -> list[str]:
    make = {
        "one word": lambda: rng.choice(SUBJECTS).split()[-1],
        "two words": lambda: f"{rng.choice(COLOURS)} {rng.choice(SUBJECTS).split()[-1]}",
        "phrase": lambda: f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)} {rng.choice(PLACES)}",
        "rare word": lambda: rng.choice(RARE),
        "common word": lambda: rng.choice(ACTIONS),
        "with a year": lambda: f"{rng.choice(SUBJECTS).split()[-1]} {rng.randint(2005, 2024)}",
    }[kind]
    return [make() for _ in range(count)]


# -- build --------------------------------------------------------------------------------------------
def build_sqlite(path: Path, count: int, seed: int) -> float:
    start = time.perf_counter()
    with Index(path) as index:
        generated = rows(count, seed)
        done = 0
        while done < count:
            batch = [next(generated) for _ in range(min(BATCH, count - done))]
            with index.write() as connection:
                connection.execute(text("INSERT INTO images (id, pixel_hash, width, height, created_at)"
                                        " VALUES (:id, :hash, 640, 480, :now)"),
                                   [{"id": row[0], "hash": f"{row[0]:040d}", "now": NOW} for row in batch])
                connection.execute(text("INSERT INTO captions (id, image_id, text, source, status, created_at)"
                                        " VALUES (:id, :id, :text, 'model', 'generated', :now)"),
                                   [{"id": row[0], "text": row[1], "now": NOW} for row in batch])
                connection.execute(text("UPDATE images SET caption_id = id WHERE id BETWEEN :lo AND :hi"),
                                   {"lo": batch[0][0], "hi": batch[-1][0]})
                connection.execute(text(
                    "INSERT INTO files (id, path, dir, name, folder, taken_at, dev, inode, size, mtime_ns, image_id,"
                    " state, attempts, seen_at) VALUES (:id, :path, :dir, :name, :folder, :taken, 1, :id, 1000, 0,"
                    " :id, 'indexed', 0, :now)"),
                    [{"id": row[0], "path": row[2], "dir": row[3], "name": row[4], "folder": row[5],
                      "taken": row[6], "now": NOW} for row in batch])
            done += len(batch)
            print(f"  sqlite: {done:,} rows", file=sys.stderr, end="\r")
        with index.write() as connection:
            connection.execute(text("INSERT INTO search_fts(search_fts) VALUES ('optimize')"))
    print(file=sys.stderr)
    return time.perf_counter() - start


def build_postgres(server: pg_kit.PostgresServer, database: str, count: int, seed: int) -> dict[str, float]:
    url = server.url(database)
    Index(url).close()  # the schema, by the migrations
    start = time.perf_counter()
    with server.connect(database) as connection:
        connection.execute("SET session_replication_role = replica")  # no triggers: one rebuild at the end
        with connection.cursor() as cursor:
            with cursor.copy("COPY images (id, pixel_hash, width, height, caption_id, created_at) FROM STDIN") as copy:
                for i in range(1, count + 1):
                    copy.write_row((i, f"{i:040d}", 640, 480, i, NOW))
            with cursor.copy("COPY captions (id, image_id, text, source, status, created_at) FROM STDIN") as copy:
                for row in rows(count, seed):
                    copy.write_row((row[0], row[0], row[1], "model", "generated", NOW))
            with cursor.copy("COPY files (id, path, dir, name, folder, taken_at, dev, inode, size, mtime_ns,"
                             " image_id, state, attempts, seen_at) FROM STDIN") as copy:
                for row in rows(count, seed):
                    copy.write_row((row[0], row[2], row[3], row[4], row[5], row[6], 1, row[0], 1000, 0, row[0],
                                    "indexed", 0, NOW))
                    if row[0] % BATCH == 0:
                        print(f"  postgresql: {row[0]:,} rows", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    loaded = time.perf_counter()
    with Index(url) as index, index.write() as connection:
        _rebuild_search(connection)
    rebuilt = time.perf_counter()
    with server.connect(database) as connection:
        connection.execute("VACUUM ANALYZE")
    return {"load_s": loaded - start, "rebuild_s": rebuilt - loaded, "vacuum_s": time.perf_counter() - rebuilt,
            "build_s": time.perf_counter() - start}


# -- sizes --------------------------------------------------------------------------------------------
def sqlite_sizes(path: Path) -> dict[str, float]:
    sizes = {"index_mb": sum(os.path.getsize(p) for p in (path, Path(f"{path}-wal")) if p.exists()) / 1e6}
    connection = sqlite3.connect(path)
    try:
        fts = connection.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'search_fts%'").fetchone()[0]
        sizes["search_mb"] = (fts or 0) / 1e6
    except sqlite3.OperationalError:  # SQLite built without the dbstat table
        pass
    finally:
        connection.close()
    return sizes


def postgres_sizes(server: pg_kit.PostgresServer, database: str) -> dict[str, float]:
    with server.connect(database) as connection:
        whole, table, gin = connection.execute(
            "SELECT pg_database_size(current_database()), pg_total_relation_size('search_fts'),"
            " (SELECT sum(pg_relation_size(x.indexrelid)) FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid"
            "  JOIN pg_am a ON a.oid = c.relam WHERE x.indrelid = 'search_fts'::regclass AND a.amname = 'gin')"
        ).fetchone()
    return {"index_mb": whole / 1e6, "search_mb": table / 1e6, "gin_mb": float(gin or 0) / 1e6}


# -- search -------------------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * fraction + 0.5) - 1)]


def timed_searches(libraries: dict[str, Library], count: int, seed: int) -> dict[str, dict[str, Any]]:
    rng = random.Random(seed + 1)
    figures: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        for query in query_set(kind, rng, 5):  # warm-up: caches, plans
            for library in libraries.values():
                library.search(query, mode="words")
        times: dict[str, list[float]] = {name: [] for name in libraries}
        hits: dict[str, list[int]] = {name: [] for name in libraries}
        for turn, query in enumerate(query_set(kind, rng, count)):
            order = list(libraries.items())
            for name, library in order if turn % 2 == 0 else order[::-1]:
                begin = time.perf_counter()
                found = library.search(query, mode="words")
                times[name].append((time.perf_counter() - begin) * 1000)
                hits[name].append(len(found.hits))
        figures[kind] = {name: {"p50_ms": statistics.median(values), "p95_ms": percentile(values, 0.95),
                                "max_ms": max(values), "mean_hits": statistics.mean(hits[name])}
                         for name, values in times.items()}
        if len(libraries) == 2:
            pg, lite = figures[kind]["postgresql"], figures[kind]["sqlite"]
            figures[kind]["pg_over_sqlite_p50"] = pg["p50_ms"] / lite["p50_ms"]
            figures[kind]["pg_over_sqlite_p95"] = pg["p95_ms"] / lite["p95_ms"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100, help="timed queries per kind (default 100)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    result: dict[str, Any] = {"rows": args.rows, "backends": backends, "load_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="alttext-fts-scale-") as tmp:
        libraries: dict[str, Library] = {}
        settings = load_settings(environ={}, path=Path(tmp) / "no-config.toml")
        server: pg_kit.PostgresServer | None = None
        try:
            if "sqlite" in backends:
                path = Path(tmp) / "index.sqlite3"
                seconds = build_sqlite(path, args.rows, args.seed)
                result["sqlite"] = {"build_s": seconds, **sqlite_sizes(path)}
                print(f"sqlite: built {args.rows:,} captions in {seconds:.0f} s;"
                      f" {result['sqlite']['index_mb']:.0f} MB on disk"
                      + (f" (search table {result['sqlite']['search_mb']:.0f} MB)" if "search_mb" in result["sqlite"]
                         else ""))
                libraries["sqlite"] = Library(path, settings=settings)
            if "postgresql" in backends:
                bin_dir = pg_kit.server_bin()
                if bin_dir is None:
                    raise SystemExit("no PostgreSQL server binary (apt-get install postgresql)")
                server = pg_kit.PostgresServer(bin_dir)
                server.start()
                database = server.new_database()
                built = build_postgres(server, database, args.rows, args.seed)
                result["postgresql"] = {**built, **postgres_sizes(server, database)}
                figures = result["postgresql"]
                print(f"postgresql: built {args.rows:,} captions in {figures['build_s']:.0f} s (COPY"
                      f" {figures['load_s']:.0f} s, search table {figures['rebuild_s']:.0f} s, VACUUM ANALYZE"
                      f" {figures['vacuum_s']:.0f} s); {figures['index_mb']:.0f} MB on disk (search table"
                      f" {figures['search_mb']:.0f} MB, of it GIN {figures['gin_mb']:.0f} MB)")
                libraries["postgresql"] = Library(server.url(database), settings=settings)
            print(f"load average before searching: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            result["search"] = timed_searches(libraries, args.queries, args.seed)
            result["load_end"] = os.getloadavg()
        finally:
            for library in libraries.values():
                library.close()
            if server is not None:
                server.stop()
    print(f"{args.queries} queries per kind, limit 20, ms:")
    header = f"{'kind':<13}" + "".join(f"{name + ' p50':>16}{name + ' p95':>16}" for name in backends)
    print(header + ("   PG/SQLite p50   PG/SQLite p95" if len(backends) == 2 else "") + "   hits/query")
    for kind, figures in result["search"].items():
        line = f"{kind:<13}" + "".join(f"{figures[name]['p50_ms']:>16.1f}{figures[name]['p95_ms']:>16.1f}"
                                       for name in backends)
        if len(backends) == 2:
            line += f"{figures['pg_over_sqlite_p50']:>16.2f}{figures['pg_over_sqlite_p95']:>16.2f}"
        line += "   " + " / ".join(f"{figures[name]['mean_hits']:.1f}" for name in backends)
        print(line)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in result['load_end'])}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
