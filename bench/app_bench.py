"""Web app benchmark (issue 12): server-side latency of `alttext serve` at library scale.

    python bench/app_bench.py                       # 100,000 photos, 200 queries, 60 thumbnails
    python bench/app_bench.py --rows 20000 --thumbs 20   # quick

The index is filled through the real schema (files, images, captions, FTS triggers) with synthetic
captions (bench/index_bench.py); ``--thumbs`` of its files are real 12 MP camera-like JPEGs. Requests go
through the real ASGI app in-process (Starlette's TestClient: routing, security middleware, templates,
the Library), so the figures are the server's side of a request, without the network.

Measured in the same run, each as p50/p95 in ms:
- ``search_bare``: ``Library.search(q, mode="words")`` alone, the work of a bare `alttext search` without
  its process start-up; the baseline;
- ``page_first`` / ``page_deep``: the library page, first page and a page deep in the library (cursor);
- ``page_search``: the library page with the same queries as ``search_bare``;
- ``thumb_miss`` / ``thumb_hit``: a 320 px thumbnail of a 12 MP JPEG, first request (decode at draft
  scale, resize, encode, store) and again (from the cache folder).
Targets: page p95 < 100 ms, cached thumbnail p95 < 50 ms; ratios are against ``search_bare``'s p95.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import text

# bench/ is a folder of scripts: reuse index_bench.py's synthetic captions and queries.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from index_bench import fill_captions, queries

from alttext import Library
from alttext.app import create_app


def camera_like_jpeg(path: Path, seed: int, size: tuple[int, int] = (4000, 3000)) -> None:
    """A 12 MP JPEG that compresses like a photo: smooth gradients plus sensor-like noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    x = np.linspace(0, 1, width, dtype=np.float32)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    base = np.stack([(x * 200 + y * 40) % 255, (y * 180 + 30) + x * 0, (x * y * 255)], axis=-1)
    noisy = np.clip(base + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(path, quality=90)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": statistics.median(ordered), "p95_ms": ordered[max(0, int(len(ordered) * 0.95) - 1)]}


def timed(calls: list[Callable[[], object]]) -> list[float]:
    latencies = []
    for call in calls:
        start = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--thumbs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    from starlette.testclient import TestClient

    with tempfile.TemporaryDirectory(prefix="alttext-app-bench-") as tmp:
        workdir = Path(tmp)
        db = workdir / "index.sqlite3"
        library = Library(db, cache_dir=str(workdir / "cache"))
        fill_captions(library.index, args.rows, args.seed)
        photos = workdir / "photos"
        photos.mkdir()
        with library.index.write() as connection:  # the first --thumbs files become real photos
            for i in range(1, args.thumbs + 1):
                path = photos / f"IMG_{i:07}.jpg"
                camera_like_jpeg(path, i)
                connection.execute(text("UPDATE files SET path = :path WHERE id = :id"),
                                   {"path": str(path).encode(), "id": i})
            connection.execute(text("INSERT INTO search_fts(search_fts) VALUES ('optimize')"))
        client = TestClient(create_app(library, token=None, host="127.0.0.1", port=8765),
                            base_url="http://127.0.0.1:8765")  # the Host the app accepts on loopback
        rng = random.Random(args.seed)
        for query in queries(rng, 20):  # warm the page cache
            library.search(query, mode="words")
            client.get("/library", params={"q": query, "mode": "words"})
        measured = queries(rng, args.queries)
        cursor = library.browse(limit=args.rows // 2).next_after

        def page(params: dict[str, str]) -> Callable[[], object]:
            def call() -> object:
                response = client.get("/library", params=params)
                assert response.status_code == 200, response.status_code
                return response
            return call

        def thumb(file_id: int) -> Callable[[], object]:
            def call() -> object:
                response = client.get(f"/thumb/{library.uid[:8]}-{file_id}")  # the app's photo address
                assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
                return response
            return call

        figures = {
            "search_bare": percentiles(timed([lambda q=q: library.search(q, mode="words") for q in measured])),
            "page_first": percentiles(timed([page({})] * 50)),
            "page_deep": percentiles(timed([page({"after": cursor or ""})] * 50)),
            "page_search": percentiles(timed([page({"q": q, "mode": "words"}) for q in measured])),
            "thumb_miss": percentiles(timed([thumb(i) for i in range(1, args.thumbs + 1)])),
            "thumb_hit": percentiles(timed([thumb(i) for i in range(1, args.thumbs + 1)])),
        }
        library.close()
    bare = figures["search_bare"]["p95_ms"]
    for name, values in figures.items():
        ratio = values["p95_ms"] / bare if bare else float("nan")
        print(f"{name:12} p50 {values['p50_ms']:7.1f} ms  p95 {values['p95_ms']:7.1f} ms  p95/search_bare {ratio:5.2f}")
    print(f"library page p95: first {figures['page_first']['p95_ms']:.1f}, deep {figures['page_deep']['p95_ms']:.1f},"
          f" search {figures['page_search']['p95_ms']:.1f} ms  (target < 100)")
    print(f"cached thumbnail p95: {figures['thumb_hit']['p95_ms']:.1f} ms  (target < 50)")
    if args.json:
        args.json.write_text(json.dumps({"rows": args.rows, **figures}, indent=2))


if __name__ == "__main__":
    main()
