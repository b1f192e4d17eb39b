"""An index written by an earlier release, rescanned by today's code without one model call (issue 16).

tests/fixtures/release-index holds an index and its photos as alttext's own CLI left them at commit
b5d205a (main just before migration 0006 keyed images by their compressed data): scanned with the shapes
fixture model, one alt text edited by a person (it covers two files: a copy), one approved, one embedded
into its photo's metadata (tests/fixtures/release-index/make_fixture.py). Not imitated by today's code: the
rows are what that release wrote, schema at 0005.

The photos come out of git with new inodes and times, so every file looks changed: today's ingest must
find each one's image again (by the content key, or the pixel key the old index has) and keep every
caption, review state and person's edit, creating no image and no caption.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from alttext.index.db import Index
from alttext.index.overview import describe_file
from alttext.index.scan import scan

FIXTURE = Path(__file__).parent.parent / "fixtures" / "release-index"
RECORDED_LIBRARY = "/tmp/alttext-release-index/library"  # where make_fixture.py made it


def _no_model() -> None:
    raise AssertionError("the model was loaded for photos that already have captions")


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


CAPTIONS = "SELECT id, image_id, text, source, status, model FROM captions ORDER BY id"
FILE_IMAGES = "SELECT name, image_id FROM files ORDER BY path"


@pytest.fixture
def release_index(tmp_path: Path) -> tuple[Path, Path]:
    """The release's index and library, copied; the library is put back at its recorded folder's place by
    rewriting the stored paths (the index records absolute paths, and tests can't own /tmp/...)."""
    library = tmp_path / "library"
    shutil.copytree(FIXTURE / "library", library)
    db = tmp_path / "index.sqlite3"
    shutil.copy(FIXTURE / "index.sqlite3", db)
    with sqlite3.connect(db) as connection:
        for table, column in (("roots", "path"), ("files", "path"), ("files", "dir")):
            # Paths are stored as bytes (BLOB): the replacement must stay one.
            connection.execute(f"UPDATE {table} SET {column} = CAST(replace(CAST({column} AS TEXT), ?, ?) AS BLOB)",
                               (RECORDED_LIBRARY, str(library)))
    return db, library


def test_the_fixture_is_the_releases_index() -> None:
    assert _rows(FIXTURE / "index.sqlite3", "SELECT version_num FROM alembic_version") == [("0005",)]
    assert sorted(path.name for path in (FIXTURE / "library").rglob("*") if path.is_file()) == sorted(
        name for (name, _image) in _rows(FIXTURE / "index.sqlite3", FILE_IMAGES))


def test_a_release_index_is_rescanned_in_place_without_a_model_call(release_index: tuple[Path, Path]) -> None:
    db, library = release_index
    captions_before = _rows(db, CAPTIONS)
    files_before = _rows(db, FILE_IMAGES)
    shown_before = {name: text for (name, text) in _rows(db, (
        "SELECT f.name, c.text FROM files f JOIN images i ON i.id = f.image_id JOIN captions c ON c.id = i.caption_id"
    ))}
    assert shown_before["cat.jpg"] == shown_before["cat-copy.jpg"] == "Chelsea the tabby cat asleep on a rug"

    with Index(db) as index:
        first = scan(index, [str(library)], _no_model, max_pixels=100_000_000)
        second = scan(index, [str(library)], _no_model, max_pixels=100_000_000)
        shown = {Path(path).name: describe_file(index, str(path)) for path in library.rglob("*") if path.is_file()}

    assert (first.model_calls, first.failed, first.new, first.missing) == (0, 0, 0, 0)
    assert first.changed + first.unchanged == len(files_before)
    assert (second.model_calls, second.unchanged, second.changed) == (0, len(files_before), 0)
    assert _rows(db, CAPTIONS) == captions_before  # not one caption made, lost or changed
    assert _rows(db, FILE_IMAGES) == files_before  # every file keeps its image (so duplicates stay one image)
    assert _rows(db, "SELECT count(*), count(content_hash) FROM images") == [(6, 6)]  # all keyed anew
    for name, text in shown_before.items():
        assert shown[name] is not None and shown[name]["alt_text"] == text, name
    assert shown["coffee.png"]["status"] == "approved"
    assert shown["cat.jpg"]["source"] == "human"


def test_a_release_library_moved_elsewhere_is_recognised_without_a_model_call(
        release_index: tuple[Path, Path], tmp_path: Path) -> None:
    db, library = release_index
    shown_before = dict(_rows(db, "SELECT f.name, c.text FROM files f JOIN images i ON i.id = f.image_id"
                                  " JOIN captions c ON c.id = i.caption_id"))
    moved = tmp_path / "moved"
    shutil.copytree(library, moved)
    shutil.rmtree(library)
    with Index(db) as index:
        summary = scan(index, [str(moved)], _no_model, max_pixels=100_000_000)
        shown = {path.name: describe_file(index, str(path)) for path in moved.rglob("*") if path.is_file()}
    assert (summary.model_calls, summary.failed) == (0, 0)
    assert _rows(db, "SELECT count(*) FROM images") == [(6,)]
    for name, text in shown_before.items():
        assert shown[name] is not None and shown[name]["alt_text"] == text, name
