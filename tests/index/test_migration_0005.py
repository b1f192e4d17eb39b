"""Migration 0005 on an index made at 0004: captions kept (none re-made), folders filled from the stored
paths and searchable, capture dates left to read on the next scan."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from alttext.index.capture_dates import fill_missing_capture_dates
from alttext.index.db import Index
from alttext.search.fts import search

REPO = Path(__file__).resolve().parents[2]


def _alembic(db: Path, *args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "alembic", "-c", str(REPO / "migrations" / "alembic.ini"),
                             "-x", f"db={db}", *args], capture_output=True, text=True, cwd=db.parent)
    assert result.returncode == 0, result.stderr


def test_an_index_at_0004_upgrades_keeping_its_captions(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite3"
    _alembic(db, "upgrade", "0004")
    root = tmp_path / "photos"
    folder = os.fsencode(root) + b"/Holiday Spain/caf\xe9"
    os.makedirs(folder)
    photo = folder + b"/tower.png"
    from PIL import Image

    Image.new("RGB", (8, 8), (1, 2, 3)).save(os.fsdecode(photo))
    with sqlite3.connect(db) as connection:
        connection.executescript(f"""
            INSERT INTO roots (id, path, added_at) VALUES (1, X'{os.fsencode(root).hex()}', '2024-01-01');
            INSERT INTO images (id, pixel_hash, width, height, created_at) VALUES (1, 'h', 8, 8, '2024-01-01');
            INSERT INTO captions (id, image_id, text, source, status, created_at)
                VALUES (1, 1, 'a church tower', 'human', 'edited', '2024-01-01');
            UPDATE images SET caption_id = 1;
            INSERT INTO files (id, root_id, path, dir, name, dev, inode, size, mtime_ns, image_id, state, attempts,
                               seen_at)
                VALUES (1, 1, X'{photo.hex()}', X'{folder.hex()}', 'tower.png', 1, 1, 1, 1, 1, 'indexed', 0,
                        '2024-01-01');
        """)
    with Index(db) as index:  # opening upgrades to head
        assert [os.path.basename(hit.path) for hit in search(index, "spain")] == ["tower.png"]
        assert [hit.alt_text for hit in search(index, "church")] == ["a church tower"]
        with index.read() as connection:
            rows = connection.exec_driver_sql("SELECT folder, taken_at FROM files").all()
            captions = connection.exec_driver_sql("SELECT id, text, source FROM captions").all()
        assert [tuple(row) for row in rows] == [("Holiday Spain/caf\ufffd", None)]  # date: not read yet
        assert [tuple(row) for row in captions] == [(1, "a church tower", "human")]
        assert fill_missing_capture_dates(index) == 1  # what the next scan does: a header read, no model
        with index.read() as connection:
            assert connection.exec_driver_sql("SELECT taken_at FROM files").scalar() == ""
