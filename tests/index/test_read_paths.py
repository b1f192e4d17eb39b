"""The everyday reads (status, show, search) run through ``Index.read_sql``: on SQLite a stdlib sqlite3
connection and no SQLAlchemy, on PostgreSQL the driver under SQLAlchemy's reader engine
(docs/architecture.md §6). Their SQL is written once; these tests hold the two ways of running it to the
same answers: every command's output, byte for byte, through sqlite3 and through the engine (the
PostgreSQL path, here on the same SQLite file), and the values ``show`` converts by hand equal what
SQLAlchemy's column types (FsPath, UtcDateTime, JSON) give."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select, update
from web.planted import plant

from alttext.cli import cli
from alttext.index.db import Index
from alttext.index.dbapi import ReadConnection
from alttext.index.models import EMBED_JOB, captions, files, images, jobs, roots, utcnow, variants
from alttext.index.overview import describe_file
from alttext.library import Library
from alttext.library.after_index import AfterIndexing
from alttext.search.encoder import semantic_available

CAPTIONS = {
    "2023/dog-beach.png": "A brown dog running on a sandy beach.",
    "2023/cat.png": "A cat asleep on a red sofa.",
    "2024/Spain/kite.png": "Two children flying a kite on a beach.",
    "2024/Spain/boat.png": "A small boat on a calm lake.",
    "2024/dog-snow.png": "A dog in deep snow.",
    "misc/red-circle.png": "A red circle on a white background.",
    "misc/triangle.png": "A blue triangle.",
    "misc/gone.png": "A dog that went missing.",
}


@pytest.fixture
def rich_index(tmp_path: Path) -> Iterator[tuple[Index, Path]]:
    """A planted index with a bit of everything status and show report: capture dates, a person's edit,
    an approval, variants, a long description, an embedded file, a held write-back, a missing and a
    failed file, a copy, a name that is not UTF-8, and sentence vectors (when the extra is installed)."""
    root = tmp_path / "photos"
    with Index(tmp_path / "index.sqlite3") as index:
        plant(index, root, CAPTIONS)
        shutil.copyfile(root / "misc/triangle.png", os.fsencode(root / "misc") + b"/copy-\xe9.png")
        (root / "misc/gone.png").unlink()
        (root / "misc/broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
        plant(index, root, {}, start=100)  # rescan: the copy, the missing file, the failed one
        with Library(index.path) as library:
            library.edit(str(root / "2023/cat.png"), "A person's words: a cat on a red sofa.")
            library.approve(str(root / "2024/dog-snow.png"))
        if semantic_available():
            AfterIndexing(index, roots=[str(root)]).run()
        with index.read() as connection:
            by_name = {os.path.basename(path): (file_id, image_id) for file_id, path, image_id in
                       connection.execute(select(files.c.id, files.c.path, files.c.image_id))}
        with index.write() as connection:
            connection.execute(update(files).where(files.c.id == by_name["dog-beach.png"][0])
                               .values(taken_at="2023-06-14T10:31:05"))
            connection.execute(update(files).where(files.c.id == by_name["kite.png"][0])
                               .values(taken_at="2024-08-02T09:00:00"))
            kite_caption = connection.execute(select(images.c.caption_id).where(
                images.c.id == by_name["kite.png"][1])).scalar()
            connection.execute(update(captions).where(captions.c.id == kite_caption).values(
                description="Two children on a wide beach, one holding the string of a red kite.",
                params={"num_beams": 4, "prompt": "<CAPTION>"}))
            connection.execute(insert(variants), [
                {"caption_id": kite_caption, "style": "playful", "text": "Kites! Kids! Sand!", "llm_model": "m"},
                {"caption_id": kite_caption, "style": "poetic", "text": "Wind\x1b[31m above", "llm_model": "m"}])
            connection.execute(update(files).where(files.c.id == by_name["boat.png"][0]).values(
                embedded_caption_id=select(images.c.caption_id).where(images.c.id == by_name["boat.png"][1])
                .scalar_subquery(), embedded_where="XMP in the file", embedded_at=utcnow()))
            for name, state, due in (("red-circle.png", "parked", utcnow()), ("cat.png", "queued",
                                                                           utcnow() + timedelta(hours=1))):
                caption_id = connection.execute(select(images.c.caption_id).where(
                    images.c.id == by_name[name][1])).scalar()
                connection.execute(insert(jobs).values(kind=EMBED_JOB, target_id=by_name[name][0], state=state,
                                                       next_try_at=due, payload={"caption_id": caption_id}))
        yield index, root


@contextmanager
def through_the_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with monkeypatch.context() as patch:
        patch.setattr(Index, "read_sql", Index.read_sql_via_engine)
        yield


def _commands(root: Path) -> list[list[str]]:
    shown = [root / "2023/cat.png", root / "2024/Spain/kite.png", root / "2024/Spain/boat.png",
             root / "misc/gone.png", root / "misc/broken.png", root / "misc/triangle.png", root / "nowhere.png"]
    commands = [["status"], ["status", "--json"]]
    for path in shown:
        commands += [["show", str(path)], ["show", str(path), "--json"]]
    modes = [[], ["--fts"]] + ([["--semantic"]] if semantic_available() else [])
    for query in ("dog", "a dog on a beach", "red sofa", "spain", "2023", "june 2023", "dog 2024", "caf", "zebra"):
        for mode in modes:
            commands += [["search", *mode, query], ["search", *mode, query, "--json"]]
        commands += [["search", query, "--under", str(root / "2024"), "--json"],
                     ["search", query, "--status", "approved", "--limit", "2"]]
    return commands


def test_status_show_and_search_say_the_same_through_sqlite3_and_through_the_engine(
        rich_index: tuple[Index, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    index, root = rich_index
    runner = CliRunner()

    def outputs() -> list[tuple[int, bytes, bytes]]:
        results = []
        for command in _commands(root):
            result = runner.invoke(cli, ["--db", index.path, *command])
            assert result.exception is None or isinstance(result.exception, SystemExit), (command, result.output)
            results.append((result.exit_code, result.stdout_bytes, result.stderr_bytes))
        return results

    direct = outputs()
    with through_the_engine(monkeypatch):
        engine = outputs()
    assert direct == engine
    status = json.loads(direct[1][1])  # the index has what the commands should show
    assert (status["failed"], status["missing"], status["embed_held"]) == (1, 1, 2)


def test_show_converts_values_as_sqlalchemys_column_types_do(rich_index: tuple[Index, Path]) -> None:
    index, _ = rich_index
    with index.read() as connection:
        file_rows = connection.execute(select(files)).all()
        root_rows = connection.execute(select(roots)).all()
    assert any(b"\xe9" in os.fsencode(row.path) for row in file_rows)
    for row in file_rows:
        info = describe_file(index, row.path)
        assert info is not None and info["path"] == row.path  # FsPath: raw bytes -> str, surrogates and all
        assert info["indexed_at"] == (row.indexed_at.isoformat() if row.indexed_at else None)  # UtcDateTime
        assert info["missing_since"] == (row.missing_since.isoformat() if row.missing_since else None)
        if info["embedded"]:
            assert info["embedded"]["at"] == row.embedded_at.isoformat()
        if row.image_id is None:
            continue
        with index.read() as connection:
            caption_rows = connection.execute(select(captions).where(captions.c.image_id == row.image_id)).all()
        by_id = {caption.id: caption for caption in caption_rows}
        for caption in info["captions"]:
            assert caption["params"] == by_id[caption["id"]].params  # JSON
            assert caption["created_at"] == by_id[caption["id"]].created_at.isoformat()
    assert Library(index.path).status()["roots"] == [
        {"path": row.path, "last_scan_at": row.last_scan_at.isoformat()} for row in root_rows]


def test_read_sql_is_one_snapshot_and_read_only(rich_index: tuple[Index, Path]) -> None:
    index, _ = rich_index
    for read in (index.read_sql, index.read_sql_via_engine):
        with read() as connection:
            assert isinstance(connection, ReadConnection)
            before = connection.scalar("SELECT count(*) FROM files")
            with index.write() as writer:  # another connection writes meanwhile (WAL: readers don't block it)
                writer.execute(update(files).where(files.c.id == 1).values(error="changed"))
                writer.execute(insert(roots).values(path="/elsewhere"))
            assert connection.scalar("SELECT count(*) FROM roots WHERE path = ?", (b"/elsewhere",)) == 0
            assert connection.scalar("SELECT count(*) FROM files") == before
            with pytest.raises(Exception, match=r"readonly|read-only"):
                connection.execute("DELETE FROM roots")
        with index.write() as writer:
            writer.execute(roots.delete().where(roots.c.path == "/elsewhere"))
