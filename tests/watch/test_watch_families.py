"""`alttext watch` with a prompt-driven model (docs/architecture.md §13): a tiny random-weight Florence-2
captions new photos with its task prompt and, with --describe, stores a long description beside the alt
text."""

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
