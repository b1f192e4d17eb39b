"""Precision at 10 of search by words, by meaning and fused, on the shapes fixture (README "How search ranks").

An index of seeded synthetic "coloured shapes" pictures (tests/fixtures/shapes.py) is captioned by the
trained fixture model (tests/fixtures/shapes-captioner), so the ground truth is what each picture really
shows, not what its caption says: a caption the model got wrong counts against every mode alike.

    python bench/search_precision.py                 # 24 pictures, seed 7
    python bench/search_precision.py --images 40 --json /tmp/p10.json

For each query, P@10 = relevant pictures among the first 10 hits / the hits shown there (at most 10):
how much of what a person sees is right, so a wrong picture shown after the right ones counts (a query
that finds nothing has no precision and is left out of the means); R@10 = relevant pictures among the
first 10 / min(10, relevant pictures in the index): how many of the right ones it found. The table also
gives the cosine similarities of query/caption pairs, relevant and not, that the floor for files found
by meaning alone in fused search (alttext.search.semantic.FUSED_MIN_SIMILARITY) is chosen from.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # fixtures.shapes, as the tests import it

Truth = dict[str, Any]


def _has(shape: str, colour: str | None = None) -> Callable[[Truth], bool]:
    return lambda truth: any(s == shape and (colour is None or c == colour) for c, s in truth["shapes"])


def _colour(colour: str) -> Callable[[Truth], bool]:
    return lambda truth: any(c == colour for c, _ in truth["shapes"])


def _background(colour: str) -> Callable[[Truth], bool]:
    return lambda truth: bool(truth["background"] == colour)


# Queries whose words occur in captions, and two that only search by meaning can answer.
QUERIES: dict[str, Callable[[Truth], bool]] = {
    "triangle": _has("triangle"),
    "circle": _has("circle"),
    "square": _has("square"),
    "red circle": _has("circle", "red"),
    "blue square": _has("square", "blue"),
    "green triangle": _has("triangle", "green"),
    "yellow": _colour("yellow"),
    "black background": _background("black"),
    "a round shape": _has("circle"),
    "a box": _has("square"),
}
MODES = ("words", "meaning", "auto")  # auto: fused, the default
K = 10


@dataclass
class Row:
    query: str
    relevant: int  # pictures in the index that the query should find
    word_hits: int  # files the query finds by words alone (0: only meaning can answer it)
    precision: dict[str, float | None]  # by mode (None: no hits)
    recall: dict[str, float]  # by mode


def build_index(folder: Path, db: Path, images: int, seed: int) -> dict[str, Truth]:
    """Pictures drawn with ``seed``, captioned by the fixture model, with sentence vectors; their truth by
    file name."""
    from fixtures.shapes import generate_dataset

    from alttext.captioning import Captioner
    from alttext.index.db import Index
    from alttext.index.ingest import Ingester
    from alttext.index.reconcile import reconcile
    from alttext.search.vectors import compute_pending_vectors

    folder.mkdir(parents=True, exist_ok=True)
    truths: dict[str, Truth] = {}
    for i, (image, _caption, truth) in enumerate(generate_dataset(images, seed)):
        name = f"pic-{i:04d}.png"  # no shape word in the names
        image.save(folder / name)
        truths[name] = truth
    model = ROOT / "tests" / "fixtures" / "shapes-captioner"
    index = Index(db)
    try:
        reconcile(index, [str(folder)])
        Ingester(index, lambda: Captioner(str(model), device="cpu")).run()
        compute_pending_vectors(index)
    finally:
        index.close()
    return truths


def precision_at_k(names: list[str], truths: dict[str, Truth], relevant: Callable[[Truth], bool],
                   k: int = K) -> float | None:
    """Share of the first ``k`` hits that are relevant; None when there are no hits."""
    shown = names[:k]
    return sum(1 for name in shown if relevant(truths[name])) / len(shown) if shown else None


def recall_at_k(names: list[str], truths: dict[str, Truth], relevant: Callable[[Truth], bool], k: int = K) -> float:
    possible = min(k, sum(1 for truth in truths.values() if relevant(truth)))
    return sum(1 for name in names[:k] if relevant(truths[name])) / possible if possible else 1.0


def measure(db: Path, truths: dict[str, Truth], queries: dict[str, Callable[[Truth], bool]] | None = None) -> list[Row]:
    from alttext.library import Library

    rows = []
    with Library(db) as library:
        for query, relevant in (queries or QUERIES).items():
            precision: dict[str, float | None] = {}
            recall: dict[str, float] = {}
            word_hits = 0
            for mode in MODES:
                hits = library.search(query, limit=K, mode=mode)  # type: ignore[arg-type]
                if mode == "words":
                    word_hits = len(hits)
                names = [Path(hit.path).name for hit in hits]
                precision[mode] = precision_at_k(names, truths, relevant)
                recall[mode] = recall_at_k(names, truths, relevant)
            rows.append(Row(query, sum(1 for t in truths.values() if relevant(t)), word_hits, precision, recall))
    return rows


def similarities(db: Path, truths: dict[str, Truth]) -> dict[str, list[float]]:
    """Cosine similarity of every (query, caption) pair, split by whether the picture is relevant."""
    import numpy as np
    from sqlalchemy import text

    from alttext.index.db import Index
    from alttext.search.encoder import default_encoder

    encoder = default_encoder()
    index = Index(db)
    try:
        with index.read() as connection:
            rows = connection.execute(text(
                "SELECT f.name, c.text FROM files f JOIN images i ON i.id = f.image_id"
                " JOIN captions c ON c.id = i.caption_id")).all()
    finally:
        index.close()
    names = [row[0] for row in rows]
    captions = encoder.encode([row[1] for row in rows])
    split: dict[str, list[float]] = {"relevant": [], "irrelevant": []}
    for query, relevant in QUERIES.items():
        scores = np.asarray(captions) @ encoder.encode([query])[0]
        for name, score in zip(names, scores, strict=True):
            split["relevant" if relevant(truths[name]) else "irrelevant"].append(float(score))
    return split


def mean_precision(rows: list[Row], mode: str) -> float | None:
    """Mean P@10 over the queries that found something in this mode."""
    found = [p for row in rows if (p := row.precision[mode]) is not None]
    return sum(found) / len(found) if found else None


def _figure(value: float | None) -> str:
    return "   –" if value is None else f"{value:.2f}"


def _quantiles(values: list[float]) -> str:
    import numpy as np

    q = np.quantile(values, [0.05, 0.5, 0.95, 1.0])
    return f"p5 {q[0]:.2f}  median {q[1]:.2f}  p95 {q[2]:.2f}  max {q[3]:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "index.sqlite3"
        truths = build_index(Path(tmp) / "photos", db, args.images, args.seed)
        rows = measure(db, truths)
        split = similarities(db, truths)
    print(f"P@{K} / R@{K} on {args.images} shapes pictures (seed {args.seed}), captioned by the fixture model")
    print(f"{'query':<18} {'relevant':>8} {'word hits':>9}  " + "  ".join(f"{m:>11}" for m in MODES))
    for row in rows:
        print(f"{row.query:<18} {row.relevant:>8} {row.word_hits:>9}  "
              + "  ".join(f"{_figure(row.precision[m])} / {row.recall[m]:.2f}" for m in MODES))
    worded = [row for row in rows if row.word_hits]
    for label, subset in (("mean, queries with word hits", worded), ("mean, all queries", rows)):
        print(f"{label:<38} " + "  ".join(
            f"{_figure(mean_precision(subset, m))} / {sum(r.recall[m] for r in subset) / len(subset):.2f}"
            for m in MODES))
    print(f"cosine, relevant pairs:   {_quantiles(split['relevant'])}")
    print(f"cosine, irrelevant pairs: {_quantiles(split['irrelevant'])}")
    if args.json:
        args.json.write_text(json.dumps({"rows": [row.__dict__ for row in rows], "similarities": split}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
