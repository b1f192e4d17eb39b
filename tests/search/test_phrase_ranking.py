"""Words together and in order rank first: "red circle" finds a red circle before a blue circle beside a
red square, in word search and in the default search that fuses words with meaning."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import run_alttext
from PIL import Image

from alttext.index.db import Index
from alttext.index.ingest import Ingester
from alttext.index.reconcile import reconcile
from alttext.library import Library
from alttext.search.encoder import semantic_available
from alttext.search.fts import _phrase_expressions, search

# File names sort the scattered captions first, and the true phrases are the longer texts (bm25 favours
# short ones): without a phrase rule, the scattered words rank level with or above the phrase.
PHRASE = {
    "p1.png": "a red circle",
    "p2.png": "a yellow triangle and a red circle on a white background",
    "p3.png": "a red circle and a green triangle on a black background",
}
SCATTERED = {
    "a1.png": "a blue circle and a red square",
    "a2.png": "a red square and a blue circle",
}
UNRELATED = {"b1.png": "a green square on a white background", "b2.png": "two blue triangles on a black background"}
CAPTIONS = {**PHRASE, **SCATTERED, **UNRELATED}


def _write_images(folder: Path) -> None:
    folder.mkdir(parents=True)
    for i, name in enumerate(CAPTIONS):
        Image.new("RGB", (16, 16), (i * 30, 90, 200 - i * 25)).save(folder / name)


@pytest.fixture
def planted(tmp_path: Path, db: Path | str) -> Index:
    root = tmp_path / "photos"
    _write_images(root)
    index = Index(db)
    reconcile(index, [str(root)])

    def no_model() -> None:
        raise AssertionError("planted captions come from metadata, not a model")

    by_path = {str(root / name): caption for name, caption in CAPTIONS.items()}
    Ingester(index, no_model, read_existing=by_path.get).run()
    yield index
    index.close()


pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)


def _assert_phrases_first(names: list[str]) -> None:
    assert set(names[: len(PHRASE)]) == set(PHRASE), names
    scattered = [names.index(name) for name in SCATTERED]
    assert min(scattered) >= len(PHRASE), names  # strictly below every true phrase


@pytest.mark.parametrize("query", ["red circle", "red circles", "find the photo of a red circle"])
def test_word_search_ranks_the_phrase_above_scattered_words(planted: Index, query: str) -> None:
    hits = search(planted, query)
    names = [Path(hit.path).name for hit in hits]
    _assert_phrases_first(names)
    assert [hit.phrase for hit in hits[: len(PHRASE)]] == [True] * len(PHRASE)
    assert not any(hit.phrase for hit in hits[len(PHRASE):])
    assert set(names) == set(PHRASE) | set(SCATTERED)  # all the words still find the scattered ones


def test_phrase_with_noise_words_inside(planted: Index) -> None:
    hits = search(planted, "triangle on a black background")
    # both have "black background" as a phrase and the triangle; the shorter text ranks first
    assert [Path(hit.path).name for hit in hits[:2]] == ["b2.png", "p3.png"]
    assert hits[0].phrase and hits[1].phrase


@pytest.mark.parametrize(("query", "expressions"), [
    ("red circle", ['"red circle"']),
    ("find the photo of a red circle", ['"red circle"']),
    ("dog on a beach", ['NEAR("dog" "beach", 2)']),  # only noise words between: as close as in the query
    ("find a red dog on a beach", ['"red dog" AND "beach"']),  # runs of adjacent words, in order
    ("dog", []),
])
def test_phrase_tiers_of_a_query(query: str, expressions: list[str]) -> None:
    assert _phrase_expressions(query) == expressions


def test_one_word_queries_have_no_phrase_tier(planted: Index) -> None:
    hits = search(planted, "circle")
    assert {Path(hit.path).name for hit in hits} == set(PHRASE) | set(SCATTERED)
    assert not any(hit.phrase for hit in hits)


@pytest.mark.skipif(not semantic_available(), reason="the `semantic` extra is not installed")
@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool plants the descriptions")
def test_default_search_command_fuses_meaning_and_keeps_the_phrase_first(tmp_path: Path, tiny_model: Path,
                                                                         db: Path | str) -> None:
    """The real `alttext search` as a user runs it: the scan imports the descriptions and stores their
    sentence vectors, so the default search fuses words with meaning."""
    folder = tmp_path / "photos"
    _write_images(folder)
    for name, caption in CAPTIONS.items():
        subprocess.run(["exiftool", "-q", "-overwrite_original", f"-XMP-dc:Description={caption}",
                        str(folder / name)], check=True)
    db = str(db)
    scanned = run_alttext("--db", db, "scan", str(folder), "--model", str(tiny_model), "--json")
    assert scanned.returncode == 0, scanned.stderr
    assert json.loads(scanned.stdout)["imported"] == len(CAPTIONS)

    with Library(db) as library:  # the default mode really is the fusion of words and meaning
        assert library.search("red circle").mode == "both"
    for mode in ([], ["--fts"]):
        result = run_alttext("--db", db, "search", *mode, "red circle", "--json")
        assert result.returncode == 0, result.stderr
        assert "note:" not in result.stderr  # every caption has its vector: this is the fused search
        _assert_phrases_first([Path(hit["path"]).name for hit in json.loads(result.stdout)])
