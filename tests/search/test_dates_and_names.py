"""Search by capture date ("2024", "june 2023", "2023-06", "dog 2023") and by folder and file names; the
capture date read from EXIF at ingest, and shown in `alttext search --json`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import run_alttext
from PIL import Image
from sqlalchemy import text

from alttext.index.capture_dates import fill_missing_capture_dates
from alttext.index.db import Index
from alttext.index.dbapi import ReadConnection
from alttext.index.ingest import Ingester
from alttext.index.reconcile import reconcile
from alttext.metadata.capture_date import parse_exif_date, read_capture_date
from alttext.search.by_date import search_taken_between
from alttext.search.dates import parse_dated_query
from alttext.search.fts import search

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)

LATIN1_FOLDER = b"caf\xe9 2019"  # not UTF-8: the raw bytes stay the path, a lossy decoding is searched


def _jpeg(path: Path, shade: int, original: str | None = None, digitized: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    ifd = exif.get_ifd(0x8769)
    if original:
        ifd[0x9003] = original  # DateTimeOriginal
    if digitized:
        ifd[0x9004] = digitized  # DateTimeDigitized (exiftool's CreateDate)
    Image.new("RGB", (16, 16), (shade, 80, 255 - shade)).save(path, exif=exif)


@pytest.fixture
def library_folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    _jpeg(root / "dogs" / "dog-june.jpg", 10, original="2023:06:14 10:31:05")
    _jpeg(root / "cats" / "cat.jpg", 40, digitized="2023:11:02 08:00:00")
    _jpeg(root / "dogs" / "dog-snow.jpg", 70, original="2024:03:01 12:00:00")
    _jpeg(root / "Holiday Spain" / "tower.jpg", 100)  # no EXIF date
    _jpeg(root / "Summer 2022" / "boat.jpg", 130, original="0000:00:00 00:00:00")  # a blank date: none
    latin1 = os.fsencode(root) + b"/" + LATIN1_FOLDER
    os.mkdir(latin1)
    Image.new("RGB", (16, 16), (160, 80, 95)).save(os.fsdecode(latin1 + b"/waves.jpg"))
    return root


CAPTIONS = {
    "dog-june.jpg": "a dog on a beach", "cat.jpg": "a cat on a sofa", "dog-snow.jpg": "a dog in the snow",
    "tower.jpg": "a church tower", "boat.jpg": "a small boat", "waves.jpg": "waves on the sea",
}


@pytest.fixture
def indexed(db: Path | str, library_folder: Path) -> Iterator[Index]:
    index = Index(db)
    reconcile(index, [str(library_folder)])
    Ingester(index, lambda: pytest.fail("captions come from metadata"),
             read_existing=lambda path: CAPTIONS[os.path.basename(path)]).run()
    yield index
    index.close()


def _names(hits: list) -> set[str]:  # type: ignore[type-arg]
    return {os.path.basename(hit.path) for hit in hits}


def _search(index: Index, query: str) -> set[str]:
    from alttext.library import Library

    with Library(index.path) as library:
        return _names(library.search(query, mode="words").hits)


def test_capture_date_read_from_exif_at_ingest(indexed: Index) -> None:
    with indexed.read() as connection:
        dates = dict(connection.execute(text("SELECT name, taken_at FROM files")).all())
    assert dates == {
        "dog-june.jpg": "2023-06-14T10:31:05", "cat.jpg": "2023-11-02T08:00:00",  # DateTimeDigitized fallback
        "dog-snow.jpg": "2024-03-01T12:00:00", "tower.jpg": "", "boat.jpg": "", "waves.jpg": "",
    }


@pytest.mark.parametrize(("query", "expected"), [
    ("june 2023", {"dog-june.jpg"}),
    ("2023-06", {"dog-june.jpg"}),
    ("2023-06-14", {"dog-june.jpg"}),
    ("2023", {"dog-june.jpg", "cat.jpg"}),
    ("2024", {"dog-snow.jpg"}),
    ("dog 2023", {"dog-june.jpg"}),  # the date filters, the word matches: not the 2024 dog
    ("dog 2024", {"dog-snow.jpg"}),
    ("2022", {"boat.jpg"}),  # no date in the file, but its folder says it: "Summer 2022"
    ("boat 2022", {"boat.jpg"}),
    ("july 2023", set()),
])
def test_dates_in_queries(indexed: Index, query: str, expected: set[str]) -> None:
    assert _search(indexed, query) == expected


@pytest.mark.parametrize(("query", "expected"), [
    ("spain", {"tower.jpg"}),  # a folder name
    ("holiday spain", {"tower.jpg"}),
    ("dogs", {"dog-june.jpg", "dog-snow.jpg"}),  # the folder "dogs" (and captions with "dog")
    ("snow", {"dog-snow.jpg"}),
    ("june", {"dog-june.jpg"}),  # a month without a year is a word: the file name
    ("caf", {"waves.jpg"}),  # a non-UTF-8 folder name, decoded lossily for search
])
def test_folder_and_file_names(indexed: Index, query: str, expected: set[str]) -> None:
    assert _search(indexed, query) == expected


def test_non_utf8_folder_keeps_its_raw_path(indexed: Index, library_folder: Path) -> None:
    hits = search(indexed, "caf")
    assert os.fsencode(hits[0].path) == os.fsencode(library_folder) + b"/" + LATIN1_FOLDER + b"/waves.jpg"
    with indexed.read() as connection:
        folder = connection.execute(text("SELECT folder FROM files WHERE name = 'waves.jpg'")).scalar()
    assert folder == "caf\ufffd 2019"


def test_date_search_walks_the_capture_date_index(indexed: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    plans: list[str] = []
    postgresql = indexed.dialect == "postgresql"
    execute = ReadConnection.execute

    def explain_first(connection: ReadConnection, sql: str, parameters: object = ()) -> object:
        if "taken_at >=" in sql:
            if postgresql:  # six rows: a sequential scan is cheaper; is the index usable for this query?
                connection.execute("SET LOCAL enable_seqscan = off")
            explain = "EXPLAIN " if postgresql else "EXPLAIN QUERY PLAN "
            plans.extend(str(row) for row in execute(connection, explain + sql, parameters).fetchall())
        return execute(connection, sql, parameters)

    monkeypatch.setattr(ReadConnection, "execute", explain_first)
    hits = search_taken_between(indexed, parse_dated_query("2023").dates)  # type: ignore[arg-type]
    assert [os.path.basename(hit.path) for hit in hits] == ["cat.jpg", "dog-june.jpg"]  # latest taken first
    assert any("ix_files_taken_at" in plan for plan in plans), plans


def test_search_json_shows_the_capture_date(indexed: Index) -> None:
    result = run_alttext("--db", str(indexed.path), "search", "--fts", "dog", "--json")
    assert result.returncode == 0, result.stderr
    dates = {os.path.basename(hit["path"]): hit["taken_at"] for hit in json.loads(result.stdout)}
    assert dates == {"dog-june.jpg": "2023-06-14T10:31:05", "dog-snow.jpg": "2024-03-01T12:00:00"}


def test_files_indexed_before_dates_get_them_once_without_recaptioning(indexed: Index) -> None:
    with indexed.write() as connection:
        connection.execute(text("UPDATE files SET taken_at = NULL"))
        captions = connection.execute(text("SELECT count(*) FROM captions")).scalar()
    assert fill_missing_capture_dates(indexed) == 6
    assert fill_missing_capture_dates(indexed) == 0  # "" marks "read, has none": never read again
    with indexed.read() as connection:
        assert connection.execute(text("SELECT count(*) FROM captions")).scalar() == captions
    assert _search(indexed, "june 2023") == {"dog-june.jpg"}


@pytest.mark.parametrize(("query", "words", "start", "end"), [
    ("2024", "", "2024-01-01", "2025-01-01"),
    ("June 2023", "", "2023-06-01", "2023-07-01"),
    ("sept 2021 wedding", "wedding", "2021-09-01", "2021-10-01"),
    ("dec 2023", "", "2023-12-01", "2024-01-01"),
    ("2023-6", "", "2023-06-01", "2023-07-01"),
    ("party 2020-02-29", "party", "2020-02-29", "2020-03-01"),
    ("dog 2023", "dog", "2023-01-01", "2024-01-01"),
])
def test_date_grammar(query: str, words: str, start: str, end: str) -> None:
    dated = parse_dated_query(query)
    assert dated.dates is not None and (dated.words, dated.dates.start, dated.dates.end) == (words, start, end)


@pytest.mark.parametrize("query", ["1080p video", "2023-13", "2021-02-30", "route 66", "may flowers", "12345"])
def test_not_dates(query: str) -> None:
    assert parse_dated_query(query).dates is None


def test_exif_date_parsing() -> None:
    assert parse_exif_date("2023:06:14 10:31:05") == "2023-06-14T10:31:05"
    assert parse_exif_date(b"2023:06:14 10:31:05\x00") == "2023-06-14T10:31:05"
    assert parse_exif_date("0000:00:00 00:00:00") is None
    assert parse_exif_date("    :  :     :  :  ") is None
    assert parse_exif_date(None) is None


def test_unreadable_file_has_no_date(tmp_path: Path) -> None:
    (tmp_path / "x.jpg").write_bytes(b"not a jpeg")
    assert read_capture_date(tmp_path / "x.jpg") == ""
    assert read_capture_date(tmp_path / "missing.jpg") == ""


def test_a_moved_file_is_found_by_its_new_folder(indexed: Index, library_folder: Path) -> None:
    (library_folder / "Rome 2021").mkdir()
    os.rename(library_folder / "Holiday Spain" / "tower.jpg", library_folder / "Rome 2021" / "tower.jpg")
    report = reconcile(indexed, [str(library_folder)])
    assert report.moved == 1  # the same row (and caption) at its new path
    assert _search(indexed, "rome") == {"tower.jpg"}
    assert _search(indexed, "spain") == set()


def test_a_date_within_a_folder(indexed: Index, library_folder: Path) -> None:
    dates = parse_dated_query("2023").dates
    assert dates is not None
    dogs = str(library_folder / "dogs")
    assert _names(search_taken_between(indexed, dates, under=dogs)) == {"dog-june.jpg"}  # not cat.jpg (2023)
    assert _names(search(indexed, "dog", taken=dates, under=dogs)) == {"dog-june.jpg"}
    assert _names(search(indexed, "dog", taken=parse_dated_query("1999").dates)) == set()  # an empty span
