"""Search, show and status: ranking, stemming, filters, JSON shapes, and reading while a scan writes."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import alttext_command, run_alttext
from PIL import Image
from sqlalchemy import update

from alttext.cli import cli
from alttext.index.captions import add_caption
from alttext.index.db import Index
from alttext.index.ingest import Ingester
from alttext.index.models import SOURCE_HUMAN, STATUS_APPROVED, STATUS_EDITED, captions, files
from alttext.index.reconcile import reconcile
from alttext.search.fts import query_terms, search

CAPTIONS = {
    "beach/dog.png": "A dog runs along the sandy beach.",
    "beach/dogs.png": "Two dogs running on the beach at sunset.",
    "city/bus.png": "A red bus on a city street.",
    "city/cat_on_bus.png": "A cat sleeping on a sofa.",
    "park/cafe.png": "People sitting outside a café in the park.",
    "park/tree.png": "A tall tree in a green park.",
}


@pytest.fixture
def planted(tmp_path: Path, db: Path | str) -> tuple[Index, Path]:
    """An index whose files carry known human captions (so ranking is about search, not the model)."""
    root = tmp_path / "photos"
    for i, relative in enumerate(CAPTIONS):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 16), (i * 40, 100, 200 - i * 30)).save(path)
    index = Index(db)
    reconcile(index, [str(root)])

    class NoModel:
        batch_size = 8

    def no_model() -> NoModel:
        raise AssertionError("planted captions come from metadata, not a model")

    captions_by_path = {str(root / relative): text for relative, text in CAPTIONS.items()}
    Ingester(index, no_model, read_existing=captions_by_path.get).run()
    yield index, root
    index.close()


pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)


def paths(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [Path(hit.path).name for hit in hits]


def test_stemming_and_word_order(planted: tuple[Index, Path]) -> None:
    index, _ = planted
    found = paths(search(index, "dogs running"))
    assert set(found[:2]) == {"dog.png", "dogs.png"}  # "a dog runs" matches "dogs running"
    assert paths(search(index, "beach dog"))[:2] == paths(search(index, "dog beach"))[:2]


def test_all_words_rank_before_some_words(planted: tuple[Index, Path]) -> None:
    index, _ = planted
    found = paths(search(index, "find the photo of a red bus on a street"))
    assert found[0] == "bus.png"


def test_file_names_are_searched_and_diacritics_folded(planted: tuple[Index, Path]) -> None:
    index, _ = planted
    assert paths(search(index, "cat_on_bus"))[0] == "cat_on_bus.png"
    assert paths(search(index, "cafe")) == ["cafe.png"]


def test_under_and_status_filters(planted: tuple[Index, Path]) -> None:
    index, root = planted
    assert set(paths(search(index, "a", under=str(root / "city")))) <= {"bus.png", "cat_on_bus.png"}
    assert paths(search(index, "park", under=str(root / "park"))) == ["tree.png", "cafe.png"] or \
        set(paths(search(index, "park", under=str(root / "park")))) == {"tree.png", "cafe.png"}
    assert search(index, "park", under=str(root / "par")) == []  # a prefix of a name is not a folder
    with index.write() as connection:
        file_id = connection.execute(
            files.select().where(files.c.name == "tree.png")
        ).first()
        connection.execute(update(captions).where(captions.c.image_id == file_id.image_id)
                           .values(status=STATUS_APPROVED))
    assert paths(search(index, "park", status=STATUS_APPROVED)) == ["tree.png"]


def test_new_caption_updates_the_search_index(planted: tuple[Index, Path]) -> None:
    index, _root = planted
    assert search(index, "zebra") == []
    with index.write() as connection:
        row = connection.execute(
            files.select().where(files.c.name == "tree.png")
        ).first()
        add_caption(connection, row.image_id, text="A zebra under a tall tree.", raw_text=None,
                    source=SOURCE_HUMAN, status=STATUS_EDITED)
    assert paths(search(index, "zebra")) == ["tree.png"]
    assert paths(search(index, "green park")) != ["tree.png"]  # the old text is gone from the index


def test_query_terms_drop_noise_words() -> None:
    assert query_terms("find the photo of a dog on a beach") == ["dog", "beach"]
    assert query_terms("the") == ["the"]  # nothing left: keep what was typed
    assert query_terms('"quoted" AND NOT (x*)') == ["quoted", "not", "x"]  # FTS syntax is only words


def test_fts_syntax_in_queries_is_harmless(planted: tuple[Index, Path]) -> None:
    index, _ = planted
    for query in ('"', "dog*", "NEAR(dog beach)", "dog OR", "-dog", "^dog", "dog:beach", "\\"):
        search(index, query)  # never an FTS5 syntax error


def test_cli_json_shapes(planted: tuple[Index, Path]) -> None:
    index, root = planted
    runner = CliRunner()
    base = ["--db", str(index.path)]
    hits = json.loads(runner.invoke(cli, [*base, "search", "dog", "--json"]).stdout)
    assert {"path", "alt_text", "score"} <= set(hits[0])
    assert hits[0]["score"] >= hits[-1]["score"]
    shown = json.loads(runner.invoke(cli, [*base, "show", str(root / "beach" / "dog.png"), "--json"]).stdout)
    for key in ("path", "alt_text", "raw_caption", "source", "status", "model", "other_paths", "error"):
        assert key in shown
    assert shown["source"] == "metadata" and shown["alt_text"] == "A dog runs along the sandy beach."
    status = json.loads(runner.invoke(cli, [*base, "status", "--json"]).stdout)
    assert (status["files"], status["images"], status["captioned"], status["pending"], status["failed"],
            status["missing"]) == (6, 6, 6, 0, 0, 0)
    missing = runner.invoke(cli, [*base, "show", str(root / "nope.png")])
    assert missing.exit_code == 1 and "not in the index" in missing.output


def test_installed_command_search_and_plain_output(planted: tuple[Index, Path]) -> None:
    index, _ = planted
    result = run_alttext("--db", index.path, "search", "sunset", "dogs")
    assert result.returncode == 0, result.stderr
    assert "dogs.png" in result.stdout.splitlines()[0]
    assert run_alttext("--db", index.path, "search", "xylophone").stderr.strip() == "no matches"


def test_reading_while_a_scan_writes(tmp_path: Path, tiny_model: Path, db: Path | str) -> None:
    """CLI readers never fail with 'database is locked' while a scan commits batch after batch."""
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(60):
        Image.new("RGB", (40, 40), (i % 256, (i * 7) % 256, (i * 13) % 256)).save(folder / f"{i:03}.png")
    Index(db).close()
    scanner = subprocess.Popen(
        [*alttext_command(), "--db", str(db), "scan", str(folder), "--model", str(tiny_model), "--batch-size", "4",
         "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    reads = 0
    errors: list[str] = []
    index = Index(db)
    try:
        while scanner.poll() is None:
            try:
                search(index, "blue circle")
                with index.read() as connection:
                    connection.exec_driver_sql("SELECT count(*) FROM files WHERE state = 'indexed'").scalar()
                reads += 1
            except Exception as exc:  # the point of the test: there must be none
                errors.append(repr(exc))
            if reads % 40 == 0:
                result = run_alttext("--db", str(db), "status", "--json")
                if result.returncode != 0:
                    errors.append(result.stderr)
            time.sleep(0.02)
        out, err = scanner.communicate()
    finally:
        index.close()
    assert scanner.returncode == 0, err
    assert not errors, errors[:3]
    assert reads > 10
    assert json.loads(out)["captioned"] == 60


def test_red_circle_search_on_fixture_captions(tmp_path: Path, shapes_model: Path, db: Path | str) -> None:
    """End to end: scan fixture-distribution images with the trained model; 'red circle' finds them first."""
    from fixtures.shapes import generate_dataset

    folder = tmp_path / "shapes"
    folder.mkdir()
    truths = {}
    for i, (image, _caption, truth) in enumerate(generate_dataset(24, seed=777)):
        name = f"shape-{i:02}.png"
        image.save(folder / name)
        truths[name] = truth
    result = run_alttext("--db", str(db), "scan", str(folder), "--model", str(shapes_model), "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(run_alttext("--db", str(db), "search", "red circle", "--json").stdout)
    red_circles = {name for name, truth in truths.items() if ("red", "circle") in
                   {tuple(shape) for shape in truth["shapes"]}}
    assert red_circles, "the seed should produce some red circles"
    top = [Path(hit["path"]).name for hit in hits[: len(red_circles)]]
    assert len(set(top) & red_circles) >= len(red_circles) - 1, (top, red_circles)
