"""``alttext db copy``: an index moved SQLite -> PostgreSQL -> SQLite loses nothing (every column of every
row of every table), search works on each copy, and a destination that holds an index is refused."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from alttext.cli import cli
from alttext.index.db import Index
from alttext.index.models import (
    caption_embeddings,
    captions,
    files,
    images,
    index_identity,
    jobs,
    metadata,
    roots,
    variants,
)
from alttext.search.fts import search

NON_UTF8 = os.fsdecode(b"/photos/caf\xe9/beach.jpg")
WHEN = datetime(2024, 5, 17, 9, 30, 12, 123456, tzinfo=UTC)


def _fill(index: Index) -> None:
    with index.write() as connection:
        connection.execute(roots.insert(), [{"id": 3, "path": "/photos", "added_at": WHEN, "last_scan_at": None}])
        connection.execute(images.insert(), [
            {"id": 10, "pixel_hash": "a" * 64, "content_hash": "b" * 64, "width": 640, "height": 480,
             "created_at": WHEN},
            {"id": 12, "pixel_hash": "c" * 64, "content_hash": None, "width": 20, "height": 30, "created_at": WHEN},
        ])
        connection.execute(captions.insert(), [
            {"id": 100, "image_id": 10, "text": "a red kite over the beach", "raw_text": "red kite beach",
             "description": "A long description.", "source": "model", "model": "tiny", "model_revision": "abc",
             "params": {"beams": 3, "prompt": "é"}, "status": "generated", "created_at": WHEN},
            {"id": 105, "image_id": 10, "text": "My kite at Saltburn", "raw_text": None, "description": None,
             "source": "human", "model": None, "model_revision": None, "params": None, "status": "edited",
             "created_at": WHEN},
            {"id": 107, "image_id": 12, "text": "Lighthouse at dusk", "raw_text": "Lighthouse at dusk",
             "description": None, "source": "metadata", "model": None, "model_revision": None, "params": {},
             "status": "approved", "created_at": WHEN},
        ])
        connection.execute(images.update().where(images.c.id == 10).values(caption_id=105))
        connection.execute(images.update().where(images.c.id == 12).values(caption_id=107))
        connection.execute(files.insert(), [
            {"id": 7, "root_id": 3, "path": NON_UTF8, "dir": os.path.dirname(NON_UTF8), "name": "beach.jpg",
             "folder": "caf\ufffd", "taken_at": "2024-05-17T09:30:12", "dev": 2049, "inode": 2**40, "size": 12345,
             "mtime_ns": 1_700_000_000_123_456_789, "image_id": 10, "state": "indexed", "error": None,
             "attempts": 0, "seen_at": WHEN, "missing_since": None, "indexed_at": WHEN,
             "embedded_caption_id": 105, "embedded_where": "xmp", "embedded_at": WHEN},
            {"id": 9, "root_id": 3, "path": "/photos/light.png", "dir": "/photos", "name": "light.png",
             "folder": "", "taken_at": "", "dev": 2049, "inode": 5, "size": 99, "mtime_ns": 1, "image_id": 12,
             "state": "indexed", "error": None, "attempts": 1, "seen_at": WHEN, "missing_since": None,
             "indexed_at": WHEN, "embedded_caption_id": None, "embedded_where": None, "embedded_at": None},
            {"id": 11, "root_id": None, "path": "/photos/broken.jpg", "dir": "/photos", "name": "broken.jpg",
             "folder": None, "taken_at": None, "dev": 2049, "inode": 6, "size": 1, "mtime_ns": 2, "image_id": None,
             "state": "failed", "error": "truncated", "attempts": 2, "seen_at": WHEN, "missing_since": WHEN,
             "indexed_at": None, "embedded_caption_id": None, "embedded_where": None, "embedded_at": None},
        ])
        connection.execute(variants.insert(), [{"id": 4, "caption_id": 100, "style": "short", "text": "Kite.",
                                                "llm_model": "llm", "created_at": WHEN}])
        connection.execute(jobs.insert(), [
            {"id": 6, "kind": "embed", "target_id": 7, "attempts": 1, "next_try_at": WHEN, "last_error": "busy",
             "state": "queued", "payload": {"where": ["xmp"]}, "created_at": WHEN},
            {"id": 8, "kind": "retry-file", "target_id": 11, "attempts": 0, "next_try_at": WHEN,
             "last_error": None, "state": "queued", "payload": None, "created_at": WHEN},
        ])
        connection.execute(caption_embeddings.insert(), [{"caption_id": 105, "model": "minilm", "dim": 3,
                                                          "vector": b"\x00\x00\x80?" * 3, "created_at": WHEN}])
        connection.execute(index_identity.update().values(uid="0123456789abcdef0123456789abcdef"))


def _snapshot(location: str | Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, ordered by primary key."""
    with Index(location, create=False) as index, index.read() as connection:
        return {table.name: [tuple(row) for row in connection.execute(
            select(table).order_by(*table.primary_key.columns))] for table in metadata.sorted_tables}


def _raw_json(location: str | Path) -> list[tuple[object, ...]]:
    """The stored JSON columns as text: SQL NULL stays apart from JSON null."""
    with Index(location, create=False) as index, index.read() as connection:
        cast = "CAST(params AS TEXT)" if index.dialect == "postgresql" else "params"
        rows = connection.execute(text(f"SELECT id, {cast} FROM captions ORDER BY id")).all()
    return [(row[0], None if row[1] is None else json.loads(row[1])) for row in rows]


def _copy(source: str | Path, destination: str | Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["db", "copy", str(source), str(destination), *extra])
    return result.exit_code, result.output


def test_round_trip_through_postgresql_is_lossless(tmp_path: Path, postgres_server) -> None:
    original = tmp_path / "original.sqlite3"
    with Index(original) as index:
        _fill(index)
    server_db = postgres_server.url(postgres_server.new_database())  # a bare database: copy migrates it
    back = tmp_path / "back.sqlite3"

    code, output = _copy(original, server_db, "--json")
    assert code == 0, output
    counts = {row["table"]: row for row in json.loads(output)}
    assert counts["captions"] == {"table": "captions", "source": 3, "destination": 3, "matches": True}
    assert counts["files"]["destination"] == 3 and counts["index_identity"]["destination"] == 1

    code, output = _copy(server_db, back)
    assert code == 0, output
    assert "captions" in output and "MISMATCH" not in output

    expected = _snapshot(original)
    assert expected["files"][0][2] == NON_UTF8
    for copy in (server_db, back):
        assert _snapshot(copy) == expected
        assert _raw_json(copy) == _raw_json(original)
        with Index(copy, create=False) as index:
            hits = search(index, "Saltburn")
            assert [hit.file_id for hit in hits] == [7]
            assert [hit.file_id for hit in search(index, "lighthouse")] == [9]
            assert search(index, "red") == []  # an older caption, not the one shown, is not searched

    # New rows after the copy get fresh ids, not the copied ones (the PostgreSQL sequences were moved on).
    with Index(server_db) as index, index.write() as connection:
        new_id = connection.execute(roots.insert().values(path="/more", added_at=WHEN)).inserted_primary_key
        assert new_id is not None and new_id[0] > 3


def test_non_empty_destination_is_refused(tmp_path: Path, postgres_server) -> None:
    source = tmp_path / "source.sqlite3"
    with Index(source) as index:
        _fill(index)
    server_db = postgres_server.url(postgres_server.new_database())
    assert _copy(source, server_db)[0] == 0
    before = _snapshot(server_db)

    code, output = _copy(source, server_db)
    assert code == 2
    assert "not empty" in output and len(output.strip().splitlines()) == 1
    assert _snapshot(server_db) == before

    code, output = _copy(source, source)
    assert code == 2


def test_sqlite_to_sqlite_prints_counts(tmp_path: Path) -> None:
    source, destination = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    with Index(source) as index:
        _fill(index)
    code, output = _copy(source, destination)
    assert code == 0, output
    lines = {line.split()[0]: line.split()[1:] for line in output.splitlines()}
    assert lines["captions"] == ["3", "3"] and lines["jobs"] == ["2", "2"]
    assert _snapshot(destination) == _snapshot(source)

    code, output = _copy(source, destination)  # now it holds an index
    assert code == 2 and "not empty" in output


@pytest.mark.parametrize("missing", ["nowhere.sqlite3"])
def test_missing_source_creates_nothing(tmp_path: Path, missing: str) -> None:
    code, output = _copy(tmp_path / missing, tmp_path / "dest.sqlite3")
    assert code == 2 and "no index" in output
    assert not (tmp_path / "dest.sqlite3").exists()
