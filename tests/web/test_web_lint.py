"""alttext lint: one planted case of every kind is found, and the exit status says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_alttext
from planted import plant, write_image

from alttext.index.db import Index
from alttext.lint import lint_alt

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)

CLEAN = "A brown dog runs along a sandy beach."


def _review_edit(invoke, path: Path, text: str) -> None:
    result = invoke("edit", str(path), text)
    assert result.exit_code == 0, result.output


@pytest.fixture
def planted_problems(index: Index, tmp_path: Path, invoke) -> Path:
    lib = tmp_path / "site"
    plant(index, lib, {
        "ok.png": CLEAN,
        "camera.png": "IMG_1234",
        "named.png": "sunset-over-the-bay.jpg",
        "placeholder.png": "image",
        "untitled.png": "untitled",
        "short.png": "dog",
        "dup-1.png": "two people shaking hands in an office",
        "dup-2.png": "Two people shaking hands in an office.",
        "long.png": ("a harbour at dusk with fishing boats moored along a stone quay, gulls circling above the"
                     " masts, warm light in the windows of the houses behind, and a lighthouse far away"),
        "leadin.png": "placeholder text replaced below",
        "toolong.png": "placeholder text replaced below too",
    })
    # Human text is stored as written (the model's lead-ins are removed by post-processing), so these
    # two mistakes come from people.
    _review_edit(invoke, lib / "leadin.png", "Image of a lighthouse on a rocky coast.")
    _review_edit(invoke, lib / "toolong.png", "A lighthouse " + "on a rocky coast " * 20)
    (lib / "broken.png").write_bytes(b"not an image at all")  # fails to caption: no alt text
    plant(index, lib, {})
    return lib


def test_lint_finds_every_kind_and_exits_non_zero(planted_problems: Path, invoke) -> None:
    result = invoke("lint", "--json")
    assert result.exit_code == 1
    found = {(Path(item["path"]).name, item["code"]) for item in json.loads(result.stdout)}
    expected = {
        ("camera.png", "file-name"), ("named.png", "file-name"), ("placeholder.png", "placeholder"),
        ("untitled.png", "placeholder"), ("short.png", "too-short"), ("dup-1.png", "duplicate"),
        ("dup-2.png", "duplicate"), ("long.png", "long"), ("leadin.png", "lead-in"),
        ("toolong.png", "too-long"), ("broken.png", "missing"),
    }
    assert expected <= found
    assert not {code for name, code in found if name == "ok.png"}


def test_lint_text_output_errors_only_and_under(planted_problems: Path, invoke, index: Index, tmp_path: Path) -> None:
    result = invoke("lint", "--errors-only")
    assert result.exit_code == 1
    assert "camera.png: error: file-name" in result.output and "warning" not in result.stdout
    clean_root = tmp_path / "clean"
    plant(index, clean_root, {"fine.png": CLEAN.replace("dog", "horse")}, start=50)
    result = invoke("lint", "--under", str(clean_root))
    assert result.exit_code == 0 and "no problems found" in result.output


def test_lint_through_the_installed_command(planted_problems: Path, db: Path) -> None:
    result = run_alttext("--db", str(db), "lint", "--json", "--under", str(planted_problems))
    assert result.returncode == 1, result.stderr
    assert {item["code"] for item in json.loads(result.stdout)} >= {"file-name", "placeholder", "missing"}


def test_duplicates_are_per_image_not_per_file(index: Index, tmp_path: Path, invoke) -> None:
    lib = tmp_path / "lib"
    plant(index, lib, {"a.png": CLEAN})
    write_image(lib / "copy" / "a.png", 0)  # same pixels: one image shown twice is not a duplicate
    plant(index, lib, {})
    assert invoke("lint").exit_code == 0


@pytest.mark.parametrize(("alt", "codes"), [
    (None, {"missing"}), ("   ", {"missing"}), ("DSC_0042.JPG", {"file-name"}), ("DSCN0001", {"file-name"}),
    ("Screenshot 2024-01-01 at 10.00.00", {"file-name"}), ("PXL_20240101_123456789", {"file-name"}),
    ("Photo 3.", {"placeholder"}), ("Untitled-1", {"placeholder"}), ("???", {"placeholder"}),
    ("A picture of a cat on a mat.", {"lead-in"}), ("Photo showing two kids at a pond.", {"lead-in"}),
    ("Red car.", {"too-short"}), ("A lighthouse on a rock. " * 11, {"too-long"}),
    (CLEAN, set()), ("A photographer holds a camera at a wedding.", set()),
    ("كلب بني يركض على شاطئ رملي", set()), ("🐕 A dog runs on the beach 🏖️", set()),
])
def test_lint_alt_rules(alt: str | None, codes: set[str]) -> None:
    assert {problem.code for problem in lint_alt(alt)} == codes


def test_alt_repeating_the_file_name_is_flagged() -> None:
    assert {p.code for p in lint_alt("Sunset", file_name="sunset.jpg")} == {"file-name"}
    assert not lint_alt("Sunset over the bay at dusk.", file_name="sunset.jpg")
