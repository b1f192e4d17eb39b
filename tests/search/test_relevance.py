"""Meaning matches earn their place in the default (fused) search: a relevance floor, and exact word
matches first; ``--semantic`` (meaning only) keeps its own, lower floor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import text

from alttext.index.db import Index
from alttext.index.ingest import Ingester
from alttext.index.reconcile import reconcile
from alttext.library import Library
from alttext.search.encoder import semantic_available
from alttext.search.fts import TIER_ALL_WORDS, TIER_ANY_WORD, TIER_MEANING, TIER_PHRASE, SearchHit
from alttext.search.semantic import FUSED_MIN_SIMILARITY, MIN_SIMILARITY, reciprocal_rank_fusion

TRIANGLES = {
    "t1.png": "a green triangle on a black background",
    "t2.png": "two yellow triangles on a white background",
}
# circle-only captions: cosine 0.25-0.40 to "triangle", so the old floor (0.25) let them in
CIRCLES = {f"c{i}.png": f"a {colour} circle on a {background} background"
           for i, (colour, background) in enumerate([("red", "white"), ("blue", "black"), ("yellow", "white"),
                                                     ("green", "white"), ("red", "black")])}
CAPTIONS = {**TRIANGLES, **CIRCLES}

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)


@pytest.fixture
def library(tmp_path: Path, db: Path | str) -> Iterator[Library]:
    if not semantic_available():
        pytest.skip("the `semantic` extra is not installed")
    from alttext.search.vectors import compute_pending_vectors

    root = tmp_path / "photos"
    root.mkdir()
    for i, name in enumerate(CAPTIONS):
        Image.new("RGB", (16, 16), (i * 30, 90, 200 - i * 25)).save(root / name)
    index = Index(db)
    reconcile(index, [str(root)])
    by_path = {str(root / name): caption for name, caption in CAPTIONS.items()}
    Ingester(index, lambda: pytest.fail("captions come from metadata"), read_existing=by_path.get).run()
    compute_pending_vectors(index)
    index.close()
    with Library(db) as opened:
        yield opened


def test_fused_search_shows_no_circle_for_triangle(library: Library) -> None:
    results = library.search("triangle", limit=20)
    assert results.mode == "both"
    assert {Path(hit.path).name for hit in results} == set(TRIANGLES)


def test_meaning_only_search_keeps_its_lower_floor(library: Library) -> None:
    results = library.search("triangle", limit=20, mode="meaning")
    names = [Path(hit.path).name for hit in results]
    assert set(names[:2]) == set(TRIANGLES)  # the triangles first...
    assert set(names) - set(TRIANGLES)  # ...and loose matches after them, as --semantic promises
    assert all(hit.score >= MIN_SIMILARITY for hit in results)
    assert MIN_SIMILARITY < FUSED_MIN_SIMILARITY


def test_meaning_still_answers_when_no_caption_has_the_words(library: Library) -> None:
    results = library.search("a round shape", limit=20)
    assert results.mode == "both"
    by_meaning = library.search("a round shape", limit=20, mode="meaning")
    assert [hit.path for hit in results] == [hit.path for hit in by_meaning]  # the strict floor needs words
    assert any(hit.score < FUSED_MIN_SIMILARITY for hit in by_meaning)  # (which this test relies on)


@pytest.mark.parametrize("mode", ["meaning", "both"])
def test_a_date_keeps_only_the_photos_taken_then(library: Library, db: Path | str, mode: str) -> None:
    with Index(db) as index, index.write() as connection:
        connection.execute(text("UPDATE files SET taken_at = CASE WHEN name IN ('t1.png', 'c0.png')"
                                " THEN '2023-05-01T10:00:00' ELSE '2024-05-01T10:00:00' END"))
    results = library.search("triangle 2023", limit=20, mode=mode)  # type: ignore[arg-type]
    names = {Path(hit.path).name for hit in results}
    assert "t1.png" in names and names <= {"t1.png", "c0.png"}, names  # not t2.png: taken in 2024
    assert all(hit.taken_at == "2023-05-01T10:00:00" for hit in results)


def _hit(file_id: int, tier: int, score: float = 0.0) -> SearchHit:
    return SearchHit(file_id=file_id, path=f"/p/{file_id}.png", alt_text="", highlighted="", score=score,
                     status="generated", source="model", phrase=tier == TIER_PHRASE, tier=tier)


def test_exact_word_matches_come_before_anything_found_by_meaning_alone() -> None:
    words = [_hit(1, TIER_PHRASE), _hit(2, TIER_ALL_WORDS), _hit(3, TIER_ALL_WORDS), _hit(4, TIER_ANY_WORD)]
    # meaning ranks a file without the words first, and the weakest exact match first among the rest
    meaning = [_hit(9, TIER_MEANING, 0.8), _hit(3, TIER_MEANING, 0.7), _hit(4, TIER_MEANING, 0.6)]
    fused = [hit.file_id for hit in reciprocal_rank_fusion([words, meaning], limit=10)]
    assert fused[:3] == [1, 3, 2]  # the phrase, then all the words (3 overtakes 2: both lists have it)
    assert set(fused[3:]) == {4, 9}  # some of the words and meaning alone: ranks decide
