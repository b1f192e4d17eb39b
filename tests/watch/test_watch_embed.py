"""`alttext watch --embed`: new photos get their alt text written into their metadata, and that write
does not make the daemon caption them again."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from photos import photo as sample_photo
from watchkit import Daemon, IndexView, wait_for

pytestmark = [pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is the oracle"),
              pytest.mark.both_backends]  # SQLite and PostgreSQL (tests/conftest.py)


def alt_text_in_file(path: Path) -> str | None:
    out = subprocess.run(["exiftool", "-j", "-XMP-iptcCore:AltTextAccessibility", str(path)],
                         capture_output=True, text=True).stdout
    return json.loads(out)[0].get("AltTextAccessibility") if out else None


def test_watch_embed_writes_metadata_once(tmp_path: Path, make_daemon: Callable[..., Daemon], db: Path | str) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    daemon = make_daemon([root], "--embed").start()
    index = IndexView(db)
    target = root / "cat.jpg"
    sample_photo("chelsea").resize((160, 120)).save(tmp_path / "cat.jpg", quality=90)
    (tmp_path / "cat.jpg").rename(target)  # arrives complete, like a camera app's save
    row = wait_for(lambda: index.indexed(target), "cat.jpg indexed", daemon=daemon)
    written = wait_for(lambda: alt_text_in_file(target), "alt text in the file", daemon=daemon)
    assert written.endswith(".")
    # Give the daemon time to see the change event of its own write, then check nothing was re-done.
    wait_for(lambda: index.indexed(target) and index.indexed(target)["size"] == target.stat().st_size,
             "own write recorded", daemon=daemon)
    assert index.captions_of(row["image_id"]) == 1
    assert daemon.stop() == 0


def test_watch_gives_new_captions_their_semantic_vectors(tmp_path: Path,
                                                         make_daemon: Callable[..., Daemon], db: Path | str) -> None:
    from alttext.search.encoder import semantic_available

    if not semantic_available():
        pytest.skip("the `semantic` extra is not installed")
    root = tmp_path / "photos"
    root.mkdir()
    daemon = make_daemon([root]).start()
    index = IndexView(db)
    target = root / "coffee.png"
    sample_photo("coffee").resize((64, 64)).save(tmp_path / "coffee.png")
    (tmp_path / "coffee.png").rename(target)
    row = wait_for(lambda: index.indexed(target), "coffee.png indexed", daemon=daemon)
    caption_id = index.image(row["image_id"])["caption_id"]
    wait_for(lambda: index.count("SELECT count(*) FROM caption_embeddings WHERE caption_id = ?", caption_id),
             "a vector for the new caption", daemon=daemon)
    assert daemon.stop() == 0
