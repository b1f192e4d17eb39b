"""`alttext watch` with each model family (docs/architecture.md §13): a tiny random-weight Florence-2
captions new photos with its task prompt and, with --describe, stores a long description beside the alt
text; Idefics3/SmolVLM, Qwen2-VL and BLIP caption new photos too (vit-gpt2 is every other watch test's model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from watchkit import Daemon, IndexView, clean_env, wait_for, write_photo


@pytest.fixture(scope="module")
def florence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models import build_tiny_florence2

    return build_tiny_florence2(tmp_path_factory.mktemp("tiny-florence2"))


@pytest.mark.slow  # a daemon start and a 256-token description: ~10 s
def test_watch_captions_and_describes_with_florence(tmp_path: Path, florence: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    db = tmp_path / "index.sqlite3"
    # --max-tokens bounds the alt text; the description's own cap (256 new tokens) is what random weights reach.
    daemon = Daemon(db, [root], florence, "--describe", "--max-tokens", "4",
                    env=clean_env(tmp_path / "home"), log=tmp_path / "daemon.log").start()
    try:
        target = write_photo(root / "new.png", 3)
        index = IndexView(db)
        row = wait_for(lambda: index.indexed(target), "new.png indexed", daemon=daemon)
        [caption] = index.query("SELECT text, description, params FROM captions WHERE image_id = ?", row["image_id"])
        params = json.loads(caption["params"])
        assert caption["text"] and caption["description"]
        assert params["prompt"] == "<CAPTION>" and params["description_prompt"] == "<DETAILED_CAPTION>"
        assert params["max_new_tokens"] == 4
        assert daemon.stop() == 0, daemon.log()[-3000:]
    finally:
        daemon.kill()


def build(family: str, folder: Path) -> Path:
    import tiny_models

    if family == "blip":
        return tiny_models.build_tiny_blip(folder)
    if family == "idefics3":
        return tiny_models.build_tiny_idefics3(folder)
    return tiny_models.build_tiny_qwen_vl(folder, generation=family)


@pytest.mark.slow  # a daemon start per family: ~5 s each
@pytest.mark.parametrize("family", ["idefics3", "qwen2_vl", "blip"])
def test_watch_captions_with_each_family(tmp_path: Path, family: str) -> None:
    from alttext.captioning.families.chat_vlm import ALT_TEXT_PROMPT

    model = build(family, tmp_path / f"tiny-{family}")
    root = tmp_path / "photos"
    root.mkdir()
    db = tmp_path / "index.sqlite3"
    daemon = Daemon(db, [root], model, env=clean_env(tmp_path / "home"), log=tmp_path / "daemon.log").start()
    try:
        target = write_photo(root / "new.png", 5)
        index = IndexView(db)
        row = wait_for(lambda: index.indexed(target), "new.png indexed", daemon=daemon)
        [caption] = index.query("SELECT text, model, params FROM captions WHERE image_id = ?", row["image_id"])
        params = json.loads(caption["params"])
        assert caption["text"] and caption["model"] == str(model)
        assert params.get("prompt") == (None if family == "blip" else ALT_TEXT_PROMPT)
        assert daemon.stop() == 0, daemon.log()[-3000:]
    finally:
        daemon.kill()
