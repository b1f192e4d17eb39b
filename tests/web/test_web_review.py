"""edit / approve / review: human alt text wins over every model run, and the review loop's keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_alttext
from PIL import Image
from planted import plant
from sqlalchemy import text

from alttext.index.captions import add_caption
from alttext.index.db import Index
from alttext.index.queries import describe_file

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)


def test_edit_adds_a_human_caption_and_keeps_the_history(index: Index, tmp_path: Path, invoke) -> None:
    plant(index, tmp_path / "lib", {"dog.png": "a dog on grass", "copy/dog-again.png": "unused"})
    dog = tmp_path / "lib" / "dog.png"
    result = invoke("edit", str(dog), "  A brown dog\n rolling in the grass. ")
    assert result.exit_code == 0, result.output
    info = describe_file(index, str(dog))
    assert info["alt_text"] == "A brown dog rolling in the grass."
    assert (info["source"], info["status"]) == ("human", "edited")
    assert [caption["source"] for caption in info["captions"]] == ["human", "model"]  # nothing overwritten


def test_edit_applies_to_every_file_with_the_same_pixels(index: Index, tmp_path: Path, invoke) -> None:
    plant(index, tmp_path / "lib", {"a.png": "a red square on white"})
    (tmp_path / "lib" / "b.png").write_bytes((tmp_path / "lib" / "a.png").read_bytes())
    plant(index, tmp_path / "lib", {})
    result = invoke("edit", str(tmp_path / "lib" / "a.png"), "Our red logo.")
    assert "1 other file" in result.output
    assert describe_file(index, str(tmp_path / "lib" / "b.png"))["alt_text"] == "Our red logo."


def test_edit_and_approve_errors(index: Index, tmp_path: Path, invoke) -> None:
    plant(index, tmp_path / "lib", {"a.png": "a red square on white"})
    dash = invoke("edit", "--", str(tmp_path / "lib" / "a.png"), "-5 degrees on a thermometer")
    assert dash.exit_code == 0 and describe_file(index, str(tmp_path / "lib" / "a.png"))["alt_text"].startswith("-5")
    assert invoke("edit", str(tmp_path / "nope.png"), "text").exit_code == 1
    assert invoke("edit", str(tmp_path / "lib" / "a.png"), "   ").exit_code == 1
    result = invoke("approve", str(tmp_path / "lib" / "a.png"), str(tmp_path / "nope.png"))
    assert result.exit_code == 1 and "not in the index" in result.output
    assert describe_file(index, str(tmp_path / "lib" / "a.png"))["status"] == "approved"  # the good one still done


def test_approved_and_edited_captions_win_over_newer_model_captions(index: Index, tmp_path: Path, invoke) -> None:
    plant(index, tmp_path / "lib", {"a.png": "model text a", "b.png": "model text b", "c.png": "model text c"})
    lib = tmp_path / "lib"
    invoke("edit", str(lib / "a.png"), "Written by a person.")
    invoke("approve", str(lib / "b.png"))
    with index.write() as connection:  # a later model run adds captions (as re-captioning does)
        for name in ("a.png", "b.png", "c.png"):
            image_id = describe_file(index, str(lib / name))["image"]["id"]
            add_caption(connection, image_id, text=f"Newer model {name}.", raw_text="x", source="model", model="m2")
    assert describe_file(index, str(lib / "a.png"))["alt_text"] == "Written by a person."
    assert describe_file(index, str(lib / "b.png"))["alt_text"] == "Model text b."
    assert describe_file(index, str(lib / "c.png"))["alt_text"] == "Newer model c.png."  # unreviewed: newest model


def _pixels_of(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def test_edit_and_approve_survive_a_rescan_and_a_recaption_with_another_model(tmp_path: Path, tiny_model: Path,
                                                                             db: Path, invoke) -> None:
    """Scan with one model, review through the installed command, scan again with a second model (seed 1),
    then re-caption every image with that second model: the reviewed alt text stays current. (The scans
    run in-process: torch is already loaded here, a subprocess would spend seconds importing it.)"""
    from photos import photo
    from tiny_models import build_tiny_vit_gpt2

    from alttext.captioning import Captioner

    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("chelsea", "coffee", "rocket"):
        photo(name).resize((64, 64)).save(lib / f"{name}.png")
    assert invoke("scan", str(lib), "--model", str(tiny_model)).exit_code == 0
    edited = run_alttext("--db", str(db), "edit", str(lib / "chelsea.png"), "A tabby cat looking at the camera.")
    assert edited.returncode == 0, edited.stderr
    approved = run_alttext("--db", str(db), "approve", str(lib / "coffee.png"))
    assert approved.returncode == 0, approved.stderr
    with Index(db) as index:
        coffee_before = describe_file(index, str(lib / "coffee.png"))["alt_text"]

    second = build_tiny_vit_gpt2(tmp_path / "tiny-seed-1", seed=1)
    rescan = invoke("scan", str(lib), "--model", str(second), "--json")
    assert rescan.exit_code == 0, rescan.output
    with Index(db) as index:
        # Forced re-caption by the second model: a new model caption row for every image.
        captioner = Captioner(str(second), device="cpu")
        with index.write() as connection:
            for name in ("chelsea", "coffee", "rocket"):
                info = describe_file(index, str(lib / f"{name}.png"))
                raw = captioner.caption_images([_pixels_of(lib / f"{name}.png")])[0]
                add_caption(connection, info["image"]["id"], text=f"Second model: {raw}.", raw_text=raw,
                            source="model", model=captioner.model_id)
        chelsea = describe_file(index, str(lib / "chelsea.png"))
        coffee = describe_file(index, str(lib / "coffee.png"))
        rocket = describe_file(index, str(lib / "rocket.png"))
    assert (chelsea["alt_text"], chelsea["status"]) == ("A tabby cat looking at the camera.", "edited")
    assert (coffee["alt_text"], coffee["status"]) == (coffee_before, "approved")
    assert rocket["alt_text"].startswith("Second model:")  # nobody reviewed it: the newest model caption
    assert len(chelsea["captions"]) == 3  # first model, human, second model: all kept


def test_review_loop_accept_edit_skip_undo_quit(index: Index, tmp_path: Path, invoke) -> None:
    lib = tmp_path / "lib"
    plant(index, lib, {"1.png": "first photo caption", "2.png": "second photo caption",
                       "3.png": "third photo caption", "4.png": "fourth photo caption"})
    # 1: accept; 2: edit; 3: skip; undo (the skip) -> 3 again; undo (the edit) -> 2 again; 2: accept; quit
    answers = "a\ne\nA better description of two.\ns\nu\nu\na\nq\n"
    result = invoke("review", "--under", str(lib), input=answers)
    assert result.exit_code == 0, result.output
    assert "undone" in result.output and "accepted 2, edited 0, skipped 0" in result.output
    one, two = (describe_file(index, str(lib / name)) for name in ("1.png", "2.png"))
    assert one["status"] == "approved"
    assert two["status"] == "approved" and two["alt_text"] == "Second photo caption."
    assert [caption["source"] for caption in two["captions"]] == ["model"]  # the undone edit's row is gone
    assert describe_file(index, str(lib / "3.png"))["status"] == "generated"
    # Reviewed images are not offered again; a second session starts at 3.
    result = invoke("review", "--under", str(lib), input="q\n")
    assert "3.png" in result.output and "1.png" not in result.output


def test_review_shows_lint_warnings_and_ends_when_done(index: Index, tmp_path: Path, invoke) -> None:
    plant(index, tmp_path / "lib", {"x.png": "IMG_1234"})
    result = invoke("review", input="e\nA yellow kayak on a lake.\n")
    assert "file name" in result.output and "nothing left to review" in result.output
    assert describe_file(index, str(tmp_path / "lib" / "x.png"))["alt_text"] == "A yellow kayak on a lake."


def test_review_through_the_installed_command(index: Index, tmp_path: Path, db: Path) -> None:
    plant(index, tmp_path / "lib", {"1.png": "first photo caption", "2.png": "second photo caption"})
    result = run_alttext("--db", str(db), "review", input="a\nu\ns\na\n")
    assert result.returncode == 0, result.stderr
    with index.read() as connection:
        statuses = dict(connection.execute(text(
            "SELECT f.name, c.status FROM files f JOIN images i ON i.id = f.image_id"
            " JOIN captions c ON c.id = i.caption_id")).all())
    assert statuses == {"1.png": "generated", "2.png": "approved"}


def test_review_end_of_input_is_a_quit(index: Index, tmp_path: Path, invoke) -> None:
    plant(index, tmp_path / "lib", {"1.png": "first photo caption", "2.png": "second photo caption"})
    result = invoke("review", input="a\n")
    assert result.exit_code == 0 and "accepted 1, edited 0, skipped 0" in result.output
    assert describe_file(index, str(tmp_path / "lib" / "1.png"))["status"] == "approved"
