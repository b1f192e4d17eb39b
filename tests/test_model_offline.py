"""A hub model without the network (issue 14): said at once, with the way to fetch it; loaded from the
cache when it is there, without asking the hub; ``alttext model fetch`` says so when the hub is away.

The "hub" here is a closed port on 127.0.0.1 (``HF_ENDPOINT``): nothing leaves the machine. The commands
run as subprocesses because huggingface_hub reads its settings when it is first imported."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from helpers import run_alttext
from test_library import draw

REPO = "testorg/shapes-captioner"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def no_hub(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine whose hub can't be reached (and an empty Hugging Face cache)."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    return {"HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0"}


def cache_model(hf_home: Path, model_folder: Path) -> None:
    """``model_folder`` laid out in the Hugging Face cache as ``REPO`` at ``COMMIT``, as a fetch leaves it."""
    repo = hf_home / "hub" / ("models--" + REPO.replace("/", "--"))
    shutil.copytree(model_folder, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)


def test_a_model_not_in_the_cache_fails_at_once_saying_how_to_fetch_it(no_hub: dict[str, str], tmp_path: Path
                                                                       ) -> None:
    picture = tmp_path / "red.png"
    draw(picture, [("red", "circle")], "white")
    result = run_alttext("caption", str(picture), "--model", REPO, env=no_hub, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no retry warnings before it (there were 22)
    assert f"alttext model fetch {REPO}" in lines[0] and "cannot be reached" in lines[0]


def test_a_cached_model_loads_without_the_hub(no_hub: dict[str, str], tmp_path: Path, shapes_model: Path) -> None:
    cache_model(Path(no_hub["HF_HOME"]), shapes_model)
    picture = tmp_path / "red.png"
    draw(picture, [("red", "circle")], "white")
    result = run_alttext("caption", str(picture), "--model", REPO, env=no_hub, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "red circle" in result.stdout.lower()
    assert "thrown while requesting" not in result.stderr and "Retrying" not in result.stderr


def test_fetch_says_when_the_hub_cannot_be_reached(no_hub: dict[str, str]) -> None:
    result = run_alttext("model", "fetch", REPO, env=no_hub, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: cannot fetch model {REPO!r}: the hub ({no_hub['HF_ENDPOINT']}) cannot be reached from here")


def test_fetch_of_a_local_folder_is_refused(shapes_model: Path) -> None:
    result = run_alttext("model", "fetch", str(shapes_model), timeout=120)
    assert result.returncode == 2 and "nothing to fetch" in result.stderr
