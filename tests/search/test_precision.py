"""Precision at 10 on the shapes fixture (bench/search_precision.py): the default, fused search must show
no more wrong pictures than search by words wherever the words find something."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from alttext.search.encoder import semantic_available

pytestmark = pytest.mark.skipif(not semantic_available(), reason="the `semantic` extra is not installed")

BENCH = Path(__file__).resolve().parents[2] / "bench" / "search_precision.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_search_precision", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_fused_precision_at_10_is_never_below_words(tmp_path: Path) -> None:
    bench = _bench()
    db = tmp_path / "index.sqlite3"
    truths = bench.build_index(tmp_path / "photos", db, images=24, seed=7)  # small: few right answers
    rows = bench.measure(db, truths)
    worded = [row for row in rows if row.word_hits]
    assert len(worded) >= 6
    for row in worded:
        assert row.precision["auto"] >= row.precision["words"], row
        assert row.recall["auto"] >= row.recall["words"], row
    assert bench.mean_precision(worded, "auto") >= bench.mean_precision(worded, "meaning")
    for row in rows:
        if not row.word_hits:  # only meaning can answer: the fused search still does
            assert row.precision["auto"] == row.precision["meaning"] and row.recall["auto"] > 0, row
