"""Index benchmarks (issue 3): rescan cost against a plain walk, and FTS search latency at 1M rows.

    python bench/index_bench.py                    # 20,000 files, 1,000,000 caption rows
    python bench/index_bench.py --files 2000 --rows 50000   # quick

1. Rescan: a tree of N tiny files is indexed once (rows filled in bulk: no model involved), then the
   timed part is a reconcile rescan of the unchanged tree (as `alttext scan` does before captioning)
   against a plain ``os.walk`` + ``os.stat`` of the same tree, best of 3 each, in the same run.
   Target: ratio under 3.
2. Search: N synthetic caption rows go through the real schema (files, images, captions, and the FTS5
   triggers); then 200 realistic queries (1–4 words, some with noise words, some matching nothing)
   through ``alttext.search.fts.search``. Target: p95 under 50 ms.

   ``--baseline OLD/alttext/search/fts.py`` also times another version of the search module on the same
   index, each query run by both in turn (alternating which goes first), and prints new/old ratios: a
   before/after comparison that a busy machine or a different index can't skew.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from alttext.index.db import Index
from alttext.index.reconcile import Reconciler
from alttext.search.by_date import search_taken_between
from alttext.search.dates import parse_dated_query
from alttext.search.fts import search

SearchFunction = Callable[..., list[Any]]

SUBJECTS = ["dog", "cat", "man", "woman", "child", "bird", "horse", "car", "bus", "train", "boat", "plane", "bicycle",
            "tree", "flower", "house", "bridge", "mountain", "river", "beach", "cake", "pizza", "table", "chair",
            "girl", "boy", "group of people", "giraffe", "elephant", "zebra", "sheep", "cow", "kite", "surfer",
            "skateboarder", "clock tower", "laptop", "phone", "bench", "umbrella"]
COLOURS = ["red", "blue", "green", "yellow", "white", "black", "brown", "orange", "pink", "grey"]
ACTIONS = ["standing", "sitting", "running", "walking", "lying", "flying", "parked", "riding", "eating", "playing"]
PLACES = ["on a beach", "in a park", "on a street", "in a field", "next to a building", "in the snow",
          "on a table", "in a kitchen", "at night", "near the water", "in a forest", "on a hill",
          "in front of a house", "at sunset", "in a city", "on a road"]


def synthetic_caption(rng: random.Random) -> str:
    subject = rng.choice(SUBJECTS)
    first = f"a {rng.choice(COLOURS)} {subject}" if rng.random() < 0.6 else f"a {subject}"
    caption = f"{first} {rng.choice(ACTIONS)} {rng.choice(PLACES)}"
    if rng.random() < 0.3:
        caption += f" with a {rng.choice(COLOURS)} {rng.choice(SUBJECTS)}"
    return caption[0].upper() + caption[1:] + "."


def queries(rng: random.Random, count: int) -> list[str]:
    result = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.25:
            result.append(rng.choice(SUBJECTS))
        elif kind < 0.5:
            result.append(f"{rng.choice(COLOURS)} {rng.choice(SUBJECTS)}")
        elif kind < 0.75:
            result.append(f"{rng.choice(SUBJECTS)} {rng.choice(PLACES)}")
        elif kind < 0.9:
            result.append(f"find the photo of a {rng.choice(COLOURS)} {rng.choice(SUBJECTS)} {rng.choice(PLACES)}")
        else:
            result.append(rng.choice(["xylophone", "purple unicorn", "submarine interior", "dogs running"]))
    return result


# -- 1. rescan --------------------------------------------------------------------------------------
def make_tree(root: Path, files: int, per_folder: int = 100) -> None:
    for i in range(files):
        folder = root / f"{(i // per_folder) // 20:03}" / f"{i // per_folder:04}"
        if i % per_folder == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"IMG_{i:06}.jpg").write_bytes(b"x")


def mark_all_indexed(index: Index) -> None:
    """Give every pending row an image and caption in bulk, as if a model had run."""
    with index.write() as connection:
        connection.execute(text(
            "INSERT INTO images (pixel_hash, width, height, created_at) "
            "SELECT printf('%040d', id), 1, 1, CURRENT_TIMESTAMP FROM files"))
        connection.execute(text(
            "INSERT INTO captions (image_id, text, source, status, created_at) "
            "SELECT id, 'A synthetic photo.', 'model', 'generated', CURRENT_TIMESTAMP FROM images"))
        connection.execute(text("UPDATE images SET caption_id = id"))
        connection.execute(text(
            "UPDATE files SET image_id = id, state = 'indexed', indexed_at = CURRENT_TIMESTAMP"))


def plain_walk(root: str) -> int:
    count = 0
    for folder, _dirs, names in os.walk(root):
        for name in names:
            os.stat(os.path.join(folder, name))
            count += 1
    return count


def best_of(repeats: int, function) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_rescan(workdir: Path, files: int) -> dict[str, float]:
    tree = workdir / "tree"
    make_tree(tree, files)
    index = Index(workdir / "rescan.sqlite3")
    Reconciler(index).scan_root(str(tree))
    mark_all_indexed(index)

    def rescan() -> None:
        reconciler = Reconciler(index)
        reconciler.scan_root(str(tree))
        assert reconciler.report.unchanged == files, reconciler.report

    plain_walk(str(tree))  # warm the dentry cache for both
    walk_seconds = best_of(3, lambda: plain_walk(str(tree)))
    rescan_seconds = best_of(3, rescan)
    index.close()
    return {"files": files, "walk_s": walk_seconds, "rescan_s": rescan_seconds,
            "rescan_vs_walk": rescan_seconds / walk_seconds}


# -- 2. search --------------------------------------------------------------------------------------
def fill_captions(index: Index, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    chunk = 50_000
    with index.write() as connection:
        for start in range(0, rows, chunk):
            count = min(chunk, rows - start)
            ids = range(start + 1, start + count + 1)
            connection.execute(
                text("INSERT INTO images (id, pixel_hash, width, height, created_at) "
                     "VALUES (:id, :hash, 640, 480, CURRENT_TIMESTAMP)"),
                [{"id": i, "hash": f"{i:040d}"} for i in ids])
            connection.execute(
                text("INSERT INTO captions (id, image_id, text, source, status, created_at) "
                     "VALUES (:id, :id, :text, 'model', 'generated', CURRENT_TIMESTAMP)"),
                [{"id": i, "text": synthetic_caption(rng)} for i in ids])
            connection.execute(text("UPDATE images SET caption_id = id WHERE id BETWEEN :lo AND :hi"),
                               {"lo": ids[0], "hi": ids[-1]})
            connection.execute(
                text("INSERT INTO files (id, path, dir, name, folder, taken_at, dev, inode, size, mtime_ns, image_id,"
                     " state, attempts, seen_at) VALUES (:id, :path, :dir, :name, :folder, :taken, 1, :id, 1000, 0,"
                     " :id, 'indexed', 0, CURRENT_TIMESTAMP)"),
                [{"id": i, "path": f"/photos/{i // 1000:04}/IMG_{i:07}.jpg".encode(),
                  "dir": f"/photos/{i // 1000:04}".encode(), "name": f"IMG_{i:07}.jpg", "folder": f"{i // 1000:04}",
                  "taken": _taken_at(i, rows)} for i in ids])
            print(f"  {start + count:,} rows", file=sys.stderr, end="\r")
    print(file=sys.stderr)


def _taken_at(i: int, rows: int) -> str:
    """Capture dates spread over 2005-2024 in id order (as a library grows), a tenth of files without one."""
    if i % 10 == 0:
        return ""
    day = 20 * 365 * i // max(rows, 1)
    return f"{2005 + day // 365}-{day % 365 // 31 + 1:02}-{day % 31 + 1:02}T12:00:00"


def load_search(path: Path) -> SearchFunction:
    """``search`` from another copy of alttext/search/fts.py (e.g. main's), for a before/after comparison."""
    spec = importlib.util.spec_from_file_location("baseline_fts", path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.search  # type: ignore[no-any-return]


def percentile_95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(len(ordered) * 0.95) - 1]


def bench_search(workdir: Path, rows: int, seed: int, baseline: SearchFunction | None = None) -> dict[str, float]:
    index = Index(workdir / "search.sqlite3")
    start = time.perf_counter()
    fill_captions(index, rows, seed)
    fill_seconds = time.perf_counter() - start
    with index.write() as connection:
        connection.execute(text("INSERT INTO search_fts(search_fts) VALUES ('optimize')"))
    rng = random.Random(seed + 1)
    for query in queries(rng, 20):  # warm the page cache
        search(index, query)
    measured = queries(rng, 200)

    def timed(**filters: str) -> tuple[list[float], list[int]]:
        latencies, result_counts = [], []
        for query in measured:
            begin = time.perf_counter()
            hits = search(index, query, limit=20, **filters)
            latencies.append((time.perf_counter() - begin) * 1000)
            result_counts.append(len(hits))
        return sorted(latencies), result_counts

    latencies, result_counts = timed()
    # Filtered searches (no target): every file (/photos), one folder of 1,000 (0.1 %), a status.
    filtered = {label: timed(**filters)[0] for label, filters in (
        ("under_all", {"under": "/photos"}), ("under_folder", {"under": "/photos/0500"}),
        ("status", {"status": "generated"}))}
    dated = timed_dates(index, measured)
    compared = compare(index, measured, baseline) if baseline else {}
    index.close()
    return {
        "rows": rows, "fill_s": fill_seconds, "index_mb": os.path.getsize(workdir / "search.sqlite3") / 1e6,
        "p50_ms": statistics.median(latencies), "p95_ms": latencies[int(len(latencies) * 0.95) - 1],
        "max_ms": latencies[-1], "mean_results": statistics.mean(result_counts),
        **{f"{label}_p95_ms": values[int(len(values) * 0.95) - 1] for label, values in filtered.items()},
        **dated,
        **compared,
    }


def timed_dates(index: Index, measured: list[str]) -> dict[str, float]:
    """p95 of a year alone ("2015": the capture-date index, latest first) and of the queries with a year
    ("dog 2015": the words, filtered by capture date)."""
    times: dict[str, list[float]] = {"date_only": [], "words_and_year": []}
    for turn, query in enumerate(measured):
        taken = parse_dated_query(str(2005 + turn % 20)).dates
        assert taken is not None
        begin = time.perf_counter()
        search_taken_between(index, taken, limit=20)
        times["date_only"].append((time.perf_counter() - begin) * 1000)
        begin = time.perf_counter()
        search(index, query, limit=20, taken=taken)
        times["words_and_year"].append((time.perf_counter() - begin) * 1000)
    return {f"{label}_p95_ms": percentile_95(values) for label, values in times.items()}


def compare(index: Index, measured: list[str], baseline: SearchFunction) -> dict[str, float]:
    """p50/p95 of this search and the baseline's over the same queries, interleaved; and new/old ratios."""
    figures: dict[str, float] = {}
    for label, filters in (("plain", {}), ("under_all", {"under": "/photos"}),
                           ("under_folder", {"under": "/photos/0500"}), ("status", {"status": "generated"})):
        times: dict[str, list[float]] = {"new": [], "old": []}
        for turn, query in enumerate(measured):
            pair = [("new", search), ("old", baseline)]
            for name, function in pair if turn % 2 == 0 else pair[::-1]:
                begin = time.perf_counter()
                function(index, query, limit=20, **filters)
                times[name].append((time.perf_counter() - begin) * 1000)
        for name, values in times.items():
            figures[f"{label}_{name}_p50_ms"] = statistics.median(values)
            figures[f"{label}_{name}_p95_ms"] = percentile_95(values)
        figures[f"{label}_p50_ratio"] = figures[f"{label}_new_p50_ms"] / figures[f"{label}_old_p50_ms"]
        figures[f"{label}_p95_ratio"] = figures[f"{label}_new_p95_ms"] / figures[f"{label}_old_p95_ms"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--baseline", type=Path, metavar="FTS_PY",
                        help="another alttext/search/fts.py to time on the same index (prints new/old ratios)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alttext-bench-") as tmp:
        workdir = Path(tmp)
        rescan = bench_rescan(workdir, args.files)
        print(f"rescan of {rescan['files']:,} unchanged files: {rescan['rescan_s'] * 1000:.0f} ms;"
              f" os.walk+stat: {rescan['walk_s'] * 1000:.0f} ms")
        print(f"rescan_vs_walk: {rescan['rescan_vs_walk']:.2f}  (target < 3)")
        found = bench_search(workdir, args.rows, args.seed, load_search(args.baseline) if args.baseline else None)
        print(f"search over {found['rows']:,} captions ({found['index_mb']:.0f} MB index, filled in"
              f" {found['fill_s']:.0f} s): p50 {found['p50_ms']:.1f} ms, p95 {found['p95_ms']:.1f} ms,"
              f" max {found['max_ms']:.1f} ms, {found['mean_results']:.1f} results/query")
        print("filtered p95: " + ", ".join(f"{label} {found[f'{label}_p95_ms']:.1f} ms"
                                         for label in ("under_all", "under_folder", "status")))
        print(f"capture date p95: a year alone {found['date_only_p95_ms']:.1f} ms,"
              f" words and a year {found['words_and_year_p95_ms']:.1f} ms")
        if args.baseline:
            for label in ("plain", "under_all", "under_folder", "status"):
                new, old = (f"{label}_new", f"{label}_old")
                print(f"vs baseline, {label}: p50 {found[f'{new}_p50_ms']:.1f} / {found[f'{old}_p50_ms']:.1f}"
                      f" ms = {found[f'{label}_p50_ratio']:.2f}x, p95 {found[f'{new}_p95_ms']:.1f} /"
                      f" {found[f'{old}_p95_ms']:.1f} ms = {found[f'{label}_p95_ratio']:.2f}x")
        print(f"search_p95_ms: {found['p95_ms']:.1f}  (target < 50)")
    if args.json:
        args.json.write_text(json.dumps({"rescan": rescan, "search": found}, indent=2))


if __name__ == "__main__":
    main()
