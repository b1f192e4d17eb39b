"""`alttext watch --embed` keeps its write-back queue in the index: a daemon killed (SIGKILL) or stopped
(SIGTERM) half-way through writing alt text into 40 photos leaves the rest waiting, `alttext status`
says how many, and the next start writes every remaining photo, once; a photo already written is not
touched again."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import alttext_command
from watchkit import Daemon, IndexView, clean_env, sha256, wait_for

pytestmark = [pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is the oracle"),
              pytest.mark.both_backends]  # SQLite and PostgreSQL (tests/conftest.py)

PHOTOS = 40
# Runs the installed command with every write-back slowed down, so that a test can stop the daemon
# while most photos are still waiting (the fixture model and small photos make it fast otherwise).
PACED = '''
import os, runpy, sys, time
from alttext.metadata import atomic

def paced(stage, path):
    if stage == "before-replace":
        time.sleep(float(os.environ["EMBED_PAUSE"]))

atomic.checkpoint = paced
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
'''
WRITTEN = re.compile(r"embedded alt text: (.+) \(written\)")


def _photos(root: Path) -> list[Path]:
    from fixtures.shapes import generate_dataset

    root.mkdir()
    made = []
    for number, (image, _caption, _truth) in enumerate(generate_dataset(PHOTOS, seed=1313, max_side=160)):
        path = root / f"shape-{number:02d}.{'png' if number % 2 else 'jpg'}"
        image.save(path, quality=90) if path.suffix == ".jpg" else image.save(path)
        made.append(path)
    return made


def _alt_texts(root: Path) -> dict[Path, str | None]:
    """What exiftool finds in each photo (one exiftool run for the folder)."""
    out = subprocess.run(["exiftool", "-j", "-XMP-iptcCore:AltTextAccessibility", "-ext", "jpg", "-ext", "png",
                          str(root)], capture_output=True, text=True).stdout
    return {Path(entry["SourceFile"]): entry.get("AltTextAccessibility") for entry in json.loads(out)}


def _identity(path: Path) -> tuple[int, str]:
    return path.stat().st_ino, sha256(path)  # a write replaces the file (new inode); mtime is kept on purpose


def _not_embedded(index: IndexView) -> int:
    return index.count("SELECT count(*) FROM files f JOIN images i ON i.id = f.image_id WHERE f.state = 'indexed'"
                       " AND (f.embedded_caption_id IS NULL OR f.embedded_caption_id != i.caption_id)")


def _status(db: Path | str, env: dict[str, str]) -> dict[str, object]:
    result = subprocess.run([*alttext_command(), "--db", str(db), "status", "--json"], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _interrupted_then_resumed(tmp_path: Path, db: Path | str, shapes_model: Path, signum: int) -> None:
    root = tmp_path / "photos"
    photos = _photos(root)
    env = clean_env(tmp_path / "home", EMBED_PAUSE="0.15")
    (tmp_path / "paced.py").write_text(PACED)
    log = tmp_path / "daemon.log"
    paced = Daemon(db, [root], shapes_model, "--embed", env=env, log=log,
                   prefix=[sys.executable, str(tmp_path / "paced.py")])
    index = IndexView(db)
    try:
        paced.start()
        wait_for(lambda: len(WRITTEN.findall(paced.log())) >= 5, "5 photos written", daemon=paced)
        if signum == signal.SIGKILL:
            paced.kill()
        else:
            assert paced.stop(signum) == 0
    finally:
        paced.kill()

    found = _alt_texts(root)
    written_before = {path: _identity(path) for path in photos if found.get(path)}
    left = [path for path in photos if not found.get(path)]
    assert len(written_before) >= 5 and len(left) >= 10, (len(written_before), len(left))
    status = _status(db, env)
    assert len(left) <= status["embed_waiting"] <= len(left) + 1, status  # +1: a write the kill cut short
    assert status["embed_held"] == 0

    daemon = Daemon(db, [root], shapes_model, "--embed", env=env, log=log)
    try:
        daemon.start()
        wait_for(lambda: index.count("SELECT count(*) FROM files WHERE state = 'indexed'") == PHOTOS
                 and _not_embedded(index) == 0, "every photo's alt text written", timeout=90, daemon=daemon)
        assert daemon.stop() == 0
    finally:
        daemon.kill()

    found = _alt_texts(root)
    captions = {Path(row["path"].decode()): row["text"] for row in index.query(
        "SELECT f.path, c.text FROM files f JOIN images i ON i.id = f.image_id JOIN captions c ON c.id = i.caption_id")}
    assert set(captions) == set(photos)
    assert {path: found.get(path) for path in photos} == captions  # every photo holds its current alt text
    for path, before in written_before.items():  # written by the first run: not touched again
        assert _identity(path) == before, path
    writes = WRITTEN.findall(daemon.log(all_runs=True))
    assert len(writes) == len(set(writes)), "a photo was written twice"
    assert index.count("SELECT count(*) FROM captions") == len({row["image_id"] for row in index.query(
        "SELECT image_id FROM files")}), "a photo was captioned again"
    assert not list(root.glob(".*alttext-tmp*"))
    assert _status(db, env)["embed_waiting"] == 0


def test_watch_embed_resumes_after_sigkill(tmp_path: Path, db: Path | str, shapes_model: Path) -> None:
    _interrupted_then_resumed(tmp_path, db, shapes_model, signal.SIGKILL)


def test_watch_embed_resumes_after_sigterm(tmp_path: Path, db: Path | str, shapes_model: Path) -> None:
    _interrupted_then_resumed(tmp_path, db, shapes_model, signal.SIGTERM)
