"""Migration 0008 on an index made at 0007: captions kept, the long description and the text in the image
searchable (the current caption's own, else the picture's newest), the search rows kept current by the
triggers; and back down to 0007. On SQLite and PostgreSQL (docs/architecture.md §12, §15)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from migration_kit import engine_for, migrate, rows
from sqlalchemy import text

from alttext.index.captions import add_caption
from alttext.index.db import Index
from alttext.index.models import SOURCE_MODEL
from alttext.search.fts import search

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)


def _names(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [os.path.basename(hit.path) for hit in hits]


def test_an_index_at_0007_upgrades_its_search_rows_and_downgrades(empty_db: str | Path, tmp_path: Path) -> None:
    engine = engine_for(empty_db)
    migrate(engine, "upgrade", "0007")
    day, later = datetime(2024, 1, 1), datetime(2024, 2, 1)
    with engine.begin() as connection:
        for statement in (
            "INSERT INTO roots (id, path, added_at) VALUES (1, :root, :day)",
            "INSERT INTO images (id, pixel_hash, width, height, created_at) VALUES (1, 'h1', 8, 8, :day)",
            "INSERT INTO images (id, pixel_hash, width, height, created_at) VALUES (2, 'h2', 8, 8, :day)",
            # image 1: a model caption with a description, then a person's edit (no description) current
            """INSERT INTO captions (id, image_id, text, description, source, status, created_at)
               VALUES (1, 1, 'a harbour', 'Fishing boats moored at a stone quay under gulls', 'model',
                       'generated', :day)""",
            """INSERT INTO captions (id, image_id, text, source, status, created_at)
               VALUES (2, 1, 'Our harbour', 'human', 'edited', :later)""",
            """INSERT INTO captions (id, image_id, text, source, status, created_at)
               VALUES (3, 2, 'a tram', 'model', 'generated', :day)""",
            "UPDATE images SET caption_id = 2 WHERE id = 1",
            "UPDATE images SET caption_id = 3 WHERE id = 2",
            """INSERT INTO files (id, root_id, path, dir, name, dev, inode, size, mtime_ns, image_id, state,
                                  attempts, seen_at, embedded_caption_id)
               VALUES (1, 1, :p1, :root, 'port.jpg', 1, 1, 1, 1, 1, 'indexed', 0, :day, 2)""",
            """INSERT INTO files (id, root_id, path, dir, name, dev, inode, size, mtime_ns, image_id, state,
                                  attempts, seen_at)
               VALUES (2, 1, :p2, :root, 'tram.jpg', 1, 2, 1, 1, 2, 'indexed', 0, :day)""",
        ):
            connection.execute(text(statement), {
                "root": os.fsencode(tmp_path), "p1": os.fsencode(tmp_path / "port.jpg"),
                "p2": os.fsencode(tmp_path / "tram.jpg"), "day": day, "later": later})
        if engine.dialect.name == "postgresql":  # ids given above: move the sequence past them
            connection.execute(text("SELECT setval(pg_get_serial_sequence('captions', 'id'), 10)"))
    with Index(empty_db) as index:  # opening upgrades to head
        # the person's edit is current; the picture's model description is still searched (as show shows it)
        assert _names(search(index, "gulls")) == ["port.jpg"]
        assert [hit.alt_text for hit in search(index, "quay")] == ["Our harbour"]
        assert _names(search(index, "harbour")) == ["port.jpg"]
        with index.read() as connection:
            assert connection.execute(text("SELECT count(*) FROM captions")).scalar() == 3
            assert connection.execute(text("SELECT embedded_description_id FROM files WHERE id = 1")).scalar() is None
            # the picture's description is the model's (caption 1) though the person's edit (2) is current
            assert connection.execute(text("SELECT id, description_id FROM images ORDER BY id")).all() == [
                (1, 1), (2, None)]
        assert search(index, "timetable") == []
        # a model caption with image text added beside the current caption: searchable at once (trigger)
        with index.write() as connection:
            add_caption(connection, 2, text="a tram at a stop", raw_text="a tram at a stop", source=SOURCE_MODEL,
                        image_text="Timetable Line 4 Central Station")
        [hit] = search(index, "timetable")
        assert hit.image_text == "Timetable Line 4 Central Station" and hit.alt_text == "a tram at a stop"
        with index.write() as connection:  # a changed image text is searched by its new words
            connection.execute(text("UPDATE captions SET image_text = 'Line 9' WHERE image_id = 2"))
        assert search(index, "timetable") == [] and _names(search(index, "line")) == ["tram.jpg"]
        # a word in the alt text ranks above the same word only in a description
        with index.write() as connection:
            connection.execute(text("UPDATE captions SET text = 'boats at dusk' WHERE id = 3"))
            connection.execute(text("UPDATE captions SET text = 'boats at dusk' WHERE image_id = 2"))
        assert _names(search(index, "boats")) == ["tram.jpg", "port.jpg"]
    migrate(engine, "downgrade", "0007")
    assert sorted(rows(engine, "SELECT alt_text FROM search_fts")) == [("Our harbour",), ("boats at dusk",)]
    with engine.begin() as connection:  # the triggers work without the new columns
        connection.execute(text("UPDATE captions SET text = 'Our port' WHERE id = 2"))
    assert sorted(rows(engine, "SELECT alt_text FROM search_fts")) == [("Our port",), ("boats at dusk",)]
    migrate(engine, "upgrade", "head")
    with Index(empty_db) as index:
        assert _names(search(index, "gulls")) == ["port.jpg"]
    engine.dispose()
