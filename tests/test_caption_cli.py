"""``alttext caption``: files, folders and URLs; plain and JSON output; bad input never stops a batch."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import run_alttext
from http_images import serve
from photos import photo
from PIL import Image

from alttext.cli import cli


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    (root / "nested" / "deeper").mkdir(parents=True)
    photo("chelsea").save(root / "cat.jpg")
    photo("coffee").save(root / "nested" / "coffee.png")
    photo("rocket").save(root / "nested" / "deeper" / "rocket.webp")
    (root / "nested" / "readme.txt").write_text("not a photo, and not an image extension")
    return root


def test_folder_is_captioned_recursively_with_plain_output(folder: Path, tiny_model: Path) -> None:
    result = CliRunner().invoke(cli, ["caption", str(folder), "--model", str(tiny_model)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    paths = [line.split("\t")[0] for line in lines]
    assert sorted(paths) == sorted(str(p) for p in folder.rglob("*") if p.suffix in {".jpg", ".png", ".webp"})
    for line in lines:
        _, alt = line.split("\t")
        assert alt[0].isupper() and alt.endswith(".")


def test_json_output_and_a_corrupt_file_among_good_ones(folder: Path, tiny_model: Path) -> None:
    corrupt = folder / "broken.jpg"
    data = (folder / "cat.jpg").read_bytes()
    corrupt.write_bytes(data[: len(data) // 3])
    empty = folder / "empty.png"
    empty.touch()
    result = CliRunner().invoke(cli, ["caption", str(folder), "--model", str(tiny_model), "--json"])
    assert result.exit_code == 1  # something failed
    items = {Path(item["path"]).name: item for item in json.loads(result.stdout)}
    assert set(items) == {"cat.jpg", "coffee.png", "rocket.webp", "broken.jpg", "empty.png"}
    for name in ("cat.jpg", "coffee.png", "rocket.webp"):
        item = items[name]
        assert item["error"] is None and item["alt_text"] and item["raw_caption"]
        assert item["model"] == str(tiny_model)
    assert "truncated" in items["broken.jpg"]["error"] and items["broken.jpg"]["alt_text"] is None
    assert "empty" in items["empty.png"]["error"]


def test_missing_path_is_a_per_item_error(tmp_path: Path, tiny_model: Path) -> None:
    good = tmp_path / "good.png"
    photo("coffee").save(good)
    result = CliRunner().invoke(
        cli, ["caption", str(good), str(tmp_path / "nope.jpg"), "--model", str(tiny_model), "--json"]
    )
    assert result.exit_code == 1
    items = json.loads(result.stdout)
    assert items[0]["error"] is None
    assert items[1]["error"] == "no such file or folder"


def test_urls(tiny_model: Path) -> None:
    image = _png_bytes(photo("astronaut").resize((128, 128)))
    routes = {
        "/ok.png": (200, "image/png", image, 0.0),
        "/page.html": (200, "text/html", b"<html></html>", 0.0),
        "/huge.png": (200, "image/png", image * 40, 0.0),
        "/broken.png": (200, "image/png", image[:100], 0.0),
        "/slow.png": (200, "image/png", image, 5.0),
    }
    with serve(routes) as base:
        result = CliRunner().invoke(
            cli,
            ["caption", "--model", str(tiny_model), "--json", *(base + route for route in routes), base + "/404.png"],
            env={"ALTTEXT_URL_MAX_BYTES": str(len(image) * 10), "ALTTEXT_URL_TIMEOUT": "1"},
        )
    assert result.exit_code == 1
    errors = {item["path"].rsplit("/", 1)[1]: item["error"] for item in json.loads(result.stdout)}
    assert errors["ok.png"] is None
    assert "Content-Type text/html" in errors["page.html"]
    assert "byte limit" in errors["huge.png"]
    assert "cannot decode" in errors["broken.png"] or "truncated" in errors["broken.png"]
    assert "timed out" in errors["slow.png"]
    assert "HTTP 404" in errors["404.png"]


def test_unknown_hub_model_offline_is_one_clear_line(tmp_path: Path) -> None:
    photo("coffee").save(tmp_path / "a.png")
    result = run_alttext("caption", str(tmp_path / "a.png"), "--model", "someone/not-cached-model",
                         env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "not in the local Hugging Face cache" in lines[0] and "--model" in lines[0]


def test_local_folder_that_is_not_a_model(tmp_path: Path) -> None:
    photo("coffee").save(tmp_path / "a.png")
    result = CliRunner().invoke(cli, ["caption", str(tmp_path / "a.png"), "--model", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a model folder" in result.output


def test_blip_architecture_loads_and_captions(tmp_path: Path) -> None:
    from tiny_models import build_tiny_blip

    model = build_tiny_blip(tmp_path / "blip")
    photo("chelsea").save(tmp_path / "cat.png")
    result = CliRunner().invoke(cli, ["caption", str(tmp_path / "cat.png"), "--model", str(model), "--json"])
    assert result.exit_code == 0, result.output
    [item] = json.loads(result.stdout)
    assert item["error"] is None and item["alt_text"]


def test_installed_command_with_the_fixture_model(shapes_model: Path, tmp_path: Path) -> None:
    from fixtures.shapes import check_caption, generate_dataset

    samples = generate_dataset(6, seed=4242)
    for i, (image, _caption, _truth) in enumerate(samples):
        image.save(tmp_path / f"shape-{i}.png")
    (tmp_path / "shape-corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    result = run_alttext("caption", str(tmp_path), "--model", str(shapes_model), "--json")
    assert result.returncode == 1, result.stderr
    items = {Path(item["path"]).name: item for item in json.loads(result.stdout)}
    assert items["shape-corrupt.png"]["error"]
    good = [check_caption(items[f"shape-{i}.png"]["alt_text"], truth) for i, (_, _, truth) in enumerate(samples)]
    assert sum(good) >= 5, items
