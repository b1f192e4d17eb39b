"""Migration 0005 on an index made at 0004: captions kept (none re-made), folders filled from the stored
paths and searchable, capture dates left to read on the next scan; and back down to 0004. On SQLite and
PostgreSQL (docs/architecture.md §12)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from migration_kit import engine_for, migrate, rows
from sqlalchemy import text

from alttext.index.capture_dates import fill_missing_capture_dates
from alttext.index.db import Index
from alttext.search.fts import search

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)


def test_an_index_at_0004_upgrades_keeping_its_captions_and_downgrades(empty_db: str | Path,
                                                                        tmp_path: Path) -> None:
    engine = engine_for(empty_db)
    migrate(engine, "upgrade", "0004")
    root = tmp_path / "photos"
    folder = os.fsencode(root) + b"/Holiday Spain/caf\xe9"
    os.makedirs(folder)
    photo = folder + b"/tower.png"
    from PIL import Image

    Image.new("RGB", (8, 8), (1, 2, 3)).save(os.fsdecode(photo))
    day = datetime(2024, 1, 1)
    with engine.begin() as connection:
        for statement in (
            "INSERT INTO roots (id, path, added_at) VALUES (1, :root, :day)",
            "INSERT INTO images (id, pixel_hash, width, height, created_at) VALUES (1, 'h', 8, 8, :day)",
            """INSERT INTO captions (id, image_id, text, source, status, created_at)
               VALUES (1, 1, 'a church tower', 'human', 'edited', :day)""",
            "UPDATE images SET caption_id = 1",
            """INSERT INTO files (id, root_id, path, dir, name, dev, inode, size, mtime_ns, image_id, state,
                                  attempts, seen_at)
               VALUES (1, 1, :photo, :folder, 'tower.png', 1, 1, 1, 1, 1, 'indexed', 0, :day)""",
        ):
            connection.execute(text(statement), {"root": os.fsencode(root), "photo": photo, "folder": folder,
                                                 "day": day})
    assert rows(engine, "SELECT name FROM search_fts") == [("tower.png",)]
    with Index(empty_db) as index:  # opening upgrades to head
        assert [os.path.basename(hit.path) for hit in search(index, "spain")] == ["tower.png"]
        assert [os.path.basename(hit.path) for hit in search(index, "holiday tower")] == ["tower.png"]
        assert [hit.alt_text for hit in search(index, "church")] == ["a church tower"]
        with index.read() as connection:
            file_rows = connection.execute(text("SELECT folder, taken_at FROM files")).all()
            captions = connection.execute(text("SELECT id, text, source FROM captions")).all()
        assert [tuple(row) for row in file_rows] == [("Holiday Spain/caf\ufffd", None)]  # date: not read yet
        assert [tuple(row) for row in captions] == [(1, "a church tower", "human")]
        assert fill_missing_capture_dates(index) == 1  # what the next scan does: a header read, no model
        with index.read() as connection:
            assert connection.execute(text("SELECT taken_at FROM files")).scalar() == ""
        with index.write() as connection:  # a renamed folder is searched by its new name at once
            connection.execute(text("UPDATE files SET folder = 'Rome'"))
        assert search(index, "spain") == []
        assert [os.path.basename(hit.path) for hit in search(index, "rome")] == ["tower.png"]
    migrate(engine, "downgrade", "0004")
    assert rows(engine, "SELECT name FROM search_fts") == [("tower.png",)]  # the file names only, again
    assert rows(engine, "SELECT text FROM captions") == [("a church tower",)]
    with engine.begin() as connection:  # the triggers work without the folder column
        connection.execute(text("UPDATE files SET name = 'spire.png'"))
    assert rows(engine, "SELECT name FROM search_fts") == [("spire.png",)]
    engine.dispose()
