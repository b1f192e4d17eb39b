"""What searching descriptions and text in pictures costs (migration 0008, docs/architecture.md §15).

    python bench/text_search_bench.py --baseline /work/main     # 100,000 captions
    python bench/text_search_bench.py --baseline OLD --rows 20000   # quick

1. Search: the same synthetic library (``index_bench``'s captions, a fifth of them with a long description and
   one in twenty with text read in the picture) is put into an index at revision 0007 (search rows: alt text
   and names) and one at the head (plus description and image text). The same 200 queries run on both, in
   turn (alternating which goes first): the 0007 index with the baseline checkout's ``search/fts.py``, the head
   index with this one's. Prints p50/p95 of each and the ratios head/0007.
2. The write-back backlog (``alttext status``): the baseline's ``embed_backlog`` query against this one's
   (which also compares each file's embedded description), on the head index with every file embedded (so
   every row is looked at), in turn.

Both ratios come from one run on one machine, so a busy machine skews both sides alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from index_bench import fill_captions, queries  # bench/ is on the path: this script's folder
from sqlalchemy import create_engine, text

import alttext.index.db as db
from alttext.index.db import Index
from alttext.index.writeback import embed_backlog
from alttext.search.fts import search

DESCRIPTIONS = ["a long description of a dog running along a sandy beach at low tide under a grey sky",
                "children flying a red kite over green dunes while gulls circle above the water",
                "a crowded market street with fruit stalls, striped awnings and a cyclist passing by"]
TEXTS = ["NO PARKING", "Central Station Platform 4", "Quarterly results slide", "OPEN 9-5 Monday to Friday"]


def _module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _index_at(path: Path, revision: str) -> Index:
    from alembic import command
    from alembic.config import Config

    engine = create_engine(f"sqlite:///{path}")
    config = Config()
    config.set_main_option("script_location", str(db.migrations_dir()))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()
    upgrade = db.upgrade
    db.upgrade = lambda engine: None  # type: ignore[assignment]  # keep it at ``revision``
    try:
        return Index(path)
    finally:
        db.upgrade = upgrade


def _add_texts(index: Index, rows: int, *, image_text: bool) -> None:
    with index.write() as connection:
        connection.execute(text("UPDATE captions SET description = :d WHERE id % 5 = 0"),
                           {"d": DESCRIPTIONS[0]})
        for i, sentence in enumerate(DESCRIPTIONS[1:], start=1):
            connection.execute(text("UPDATE captions SET description = :d WHERE id % 15 = :i"), {"d": sentence, "i": i})
        if image_text:
            for i, words in enumerate(TEXTS):
                connection.execute(text("UPDATE captions SET image_text = :t WHERE id % 80 = :i"), {"t": words, "i": i})
        if image_text:  # the head schema: what refresh_current_caption keeps (the bulk fill bypasses it)
            connection.execute(text("UPDATE images SET description_id = caption_id WHERE caption_id IN"
                                    " (SELECT id FROM captions WHERE description <> '')"))
        connection.execute(text("INSERT INTO search_fts(search_fts) VALUES ('optimize')"))


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def _alternate(measured: list[Any], first: Callable[[Any], object], second: Callable[[Any], object]
               ) -> tuple[list[float], list[float]]:
    times: tuple[list[float], list[float]] = ([], [])
    for n, item in enumerate(measured):
        order = [(0, first), (1, second)] if n % 2 == 0 else [(1, second), (0, first)]
        for slot, function in order:
            begin = time.perf_counter()
            function(item)
            times[slot].append((time.perf_counter() - begin) * 1000)
    return times


def _time_backlog(index: Index, old_backlog: Callable[[Index], object], what: str) -> None:
    before, after = _alternate(list(range(10)), lambda _: old_backlog(index), lambda _: embed_backlog(index))
    slow, fast = statistics.median(after), statistics.median(before)
    print(f"embed backlog (status), {what}: before {fast:.1f} ms, after {slow:.1f} ms; ratio {slow / fast:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout before migration 0008")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    old_search = _module(args.baseline / "alttext/search/fts.py", "baseline_fts").search
    old_backlog = _module(args.baseline / "alttext/index/writeback.py", "baseline_writeback").embed_backlog
    with tempfile.TemporaryDirectory() as folder:
        old = _index_at(Path(folder) / "old.sqlite3", "0007")
        new = Index(Path(folder) / "new.sqlite3")
        for index, image_text in ((old, False), (new, True)):
            fill_captions(index, args.rows, args.seed)
            _add_texts(index, args.rows, image_text=image_text)
        rng = random.Random(args.seed + 1)
        for query in queries(rng, 20):  # warm the page caches
            old_search(old, query)
            search(new, query)
        measured = queries(rng, 200) + ["beach tide", "kite dunes", "parking", "platform 4"] * 10
        old_times, new_times = _alternate(measured, lambda q: old_search(old, q), lambda q: search(new, q))
        (old50, old95), (new50, new95) = _percentiles(old_times), _percentiles(new_times)
        print(f"search, {args.rows:,} captions, {len(measured)} queries: 0007 p50 {old50:.2f} ms p95 {old95:.2f} ms;"
              f" head p50 {new50:.2f} ms p95 {new95:.2f} ms; ratio p50 {new50 / old50:.2f} p95 {new95 / old95:.2f}")
        with new.write() as connection:  # everything embedded, as in a library that has been: every file is read
            connection.execute(text("UPDATE files SET embedded_caption_id = image_id, embedded_description_id ="
                                    " CASE WHEN image_id % 5 = 0 OR image_id % 15 IN (1, 2) THEN image_id END"))
        assert old_backlog(new).waiting == embed_backlog(new).waiting == 0  # nothing waiting by either rule
        _time_backlog(new, old_backlog, f"{args.rows:,} files, a third described")
        with new.write() as connection:  # a pixels-only library: no description anywhere
            connection.execute(text("UPDATE captions SET description = NULL"))
            connection.execute(text("UPDATE images SET description_id = NULL"))
            connection.execute(text("UPDATE files SET embedded_description_id = NULL"))
        _time_backlog(new, old_backlog, f"{args.rows:,} files, none described")
        old.close()
        new.close()


if __name__ == "__main__":
    main()
