"""``alttext watch`` (the installed command, tiny model, real inotify) with a camera RAW whose JPEG arrives
later: one model caption for the pair; and a link to a folder named once at start-up (docs/architecture.md
§10)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from raw_files import write_jpeg_in_raw
from watchkit import Daemon, IndexView, noise_image, wait_for

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)


def test_a_jpeg_arriving_after_its_raw_reuses_the_raws_caption(
    tmp_path: Path, make_daemon: Callable[..., Daemon], db: Path | str
) -> None:
    root, staging, outside = tmp_path / "photos", tmp_path / "staging", tmp_path / "elsewhere"
    for folder in (root, staging, outside):
        folder.mkdir()
    (root / "trips").symlink_to(outside, target_is_directory=True)
    raw_path = write_jpeg_in_raw(root / "IMG_0100.NEF", noise_image(1))
    daemon = make_daemon([root], "-v").start()
    daemon.wait_log(r"not followed: 1 link\(s\) to folders \(.*trips\)")
    index = IndexView(db)
    raw_row = wait_for(lambda: index.indexed(raw_path), "the RAW indexed", daemon=daemon)
    assert index.captions_of(raw_row["image_id"]) == 1

    noise_image(2).save(staging / "IMG_0100.JPG", quality=90)  # other pixels than the RAW's preview
    jpeg_path = root / "IMG_0100.JPG"
    os.replace(staging / "IMG_0100.JPG", jpeg_path)
    jpeg_row = wait_for(lambda: index.indexed(jpeg_path), "the JPEG indexed", daemon=daemon)
    assert jpeg_row["image_id"] == raw_row["image_id"]
    assert index.captions_of(raw_row["image_id"]) == 1  # no second model caption
    assert index.count("SELECT count(*) FROM captions") == 1
    assert daemon.stop() == 0, daemon.log()[-3000:]
    assert daemon.log().count("not followed") == 1
