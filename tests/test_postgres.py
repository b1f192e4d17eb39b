"""The index on PostgreSQL (docs/architecture.md §12): migrations applied on an empty database, raw
byte paths, the write rule, search with the same JSON as SQLite's, and the address given by --db or the
config file. The shared index tests run on both backends too (modules marked ``both_backends``)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import sql_rows
from sqlalchemy import select, text
from web.planted import plant, write_image

from alttext.cli import cli
from alttext.index.db import Index, IndexUnavailable, is_server_url, upgrade
from alttext.index.models import files
from alttext.index.reconcile import reconcile


@pytest.fixture
def backend() -> str:
    """This module's ``db`` is always a PostgreSQL database (tests/conftest.py)."""
    return "postgresql"


@pytest.fixture
def empty_url(postgres_server):  # -> Iterator[str]
    """A new, empty database (no schema yet): opening it must migrate it."""
    name = postgres_server.new_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


def test_is_server_url() -> None:
    assert is_server_url("postgresql://me@db.example/alttext")
    assert is_server_url("postgresql+psycopg://me@127.0.0.1:5433/x") and is_server_url("postgres://h/x")
    assert not is_server_url("index.sqlite3") and not is_server_url(Path("/srv/postgresql/index.sqlite3"))
    assert not is_server_url("sqlite:///x")


def test_opening_an_empty_database_migrates_it_and_reopening_is_a_no_op(empty_url: str) -> None:
    with Index(empty_url) as index:
        assert index.dialect == "postgresql" and index.path == empty_url
        tables = {row[0] for row in sql_rows(index, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {"roots", "images", "captions", "files", "variants", "jobs", "search_fts", "caption_embeddings",
                "index_identity", "alembic_version"} <= tables
        triggers = {row[0] for row in sql_rows(index, "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
        assert triggers == {"files_fts_insert", "files_fts_delete", "files_fts_update", "images_fts_caption",
                            "captions_fts_text", "captions_fts_insert", "caption_embeddings_stale",
                            "images_vector_dropped"}
        assert sql_rows(index, "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_search_fts_document'")[0][0] \
            .count("USING gin")
        assert sql_rows(index, "SELECT data_type FROM information_schema.columns"
                               " WHERE table_name = 'files' AND column_name = 'path'") == [("bytea",)]
        (version,) = sql_rows(index, "SELECT version_num FROM alembic_version")[0]
        assert index.integrity_check() == "ok" and index.size_bytes() > 0
    with Index(empty_url) as again:  # already at head
        assert sql_rows(again, "SELECT version_num FROM alembic_version") == [(version,)]


def test_downgrade_to_nothing_and_upgrade_again(empty_url: str, tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from alttext.index.db import migrations_dir

    with Index(empty_url) as index:
        config = Config()
        config.set_main_option("script_location", str(migrations_dir()))
        with index.writer.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert sql_rows(index, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == [
            ("alembic_version",)]
        upgrade(index.writer)
        plant(index, tmp_path / "again", {"a.png": "A red kite over the sea."})
        assert sql_rows(index, "SELECT alt_text FROM search_fts") == [("A red kite over the sea.",)]


def test_file_names_that_are_not_utf8_are_kept_byte_for_byte(db: str, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    name = b"caf\xe9 \xff.png"  # Latin-1, not UTF-8: PostgreSQL text would refuse it; bytea keeps it
    write_image(Path(os.fsdecode(os.fsencode(root) + b"/" + name)), 1)
    write_image(root / "plain.png", 2)
    with Index(db) as index:
        report = reconcile(index, [str(root)])
        assert report.new == 2
        with index.read() as connection:
            paths = sorted(os.fsencode(path) for path in connection.execute(select(files.c.path)).scalars())
        assert paths == sorted([os.fsencode(root) + b"/" + name, os.fsencode(root / "plain.png")])
        assert reconcile(index, [str(root)]).new == 0  # the rescan finds them by their exact bytes


def test_readers_cannot_write_and_writers_take_turns(db: str) -> None:
    with Index(db) as index:
        with pytest.raises(Exception, match="read-only transaction"), index.read() as connection:
            connection.execute(text("INSERT INTO roots (path, added_at) VALUES ('\\x2f'::bytea, now())"))
        second_in = threading.Event()

        def second_writer() -> None:
            with index.write() as connection:
                second_in.set()
                connection.execute(text("SELECT 1"))

        with index.write():
            other = threading.Thread(target=second_writer)
            other.start()
            # Like SQLite's BEGIN IMMEDIATE: the second write transaction waits for the first to end.
            assert not second_in.wait(0.5)
        assert second_in.wait(10)
        other.join(10)


def _search_json(db: str | Path, query: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(cli, ["--db", str(db), "search", "--fts", query, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if result.stdout.strip() else []


CAPTIONS = {
    "p1.png": "A red circle on a white background.",
    "p2.png": "A blue circle and a red square.",
    "dog.png": "A dog runs along the sandy beach.",
    "cafe.png": "People sitting outside a café in the park.",
    "IMG_2044.png": "A yellow kite.",
}


def test_search_answers_with_the_same_json_as_sqlite(postgres_server, postgres_template: str, db: str,
                                                     tmp_path: Path) -> None:
    sqlite_db = tmp_path / "index.sqlite3"
    for where in (sqlite_db, db):
        with Index(where) as index:
            plant(index, tmp_path / "photos", CAPTIONS)
    for query in ("red circle", "dogs running", "beach dog", "cafe", "img 2044", "kite", "zebra"):
        on_sqlite, on_postgres = _search_json(sqlite_db, query), _search_json(db, query)
        assert [hit.keys() for hit in on_postgres] == [hit.keys() for hit in on_sqlite], query
        assert [Path(str(hit["path"])).name for hit in on_postgres] == \
            [Path(str(hit["path"])).name for hit in on_sqlite], query
        # The words found are marked alike; scores differ in scale (bm25 against ts_rank_cd).
        assert [hit["highlighted"] for hit in on_postgres] == [hit["highlighted"] for hit in on_sqlite], query


def test_the_config_file_can_name_a_postgresql_database(db: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'db = "{db}"\n')
    monkeypatch.setenv("ALTTEXT_CONFIG", str(config))
    with Index(db) as index:
        plant(index, tmp_path / "photos", {"a.png": "A green hat."})
    result = CliRunner().invoke(cli, ["status", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["index_path"] == db and status["captioned"] == 1


def test_an_unreachable_server_is_one_clear_line(postgres_server) -> None:
    url = f"postgresql://alttext@127.0.0.1:{postgres_server.port}/no_such_database"
    with pytest.raises(IndexUnavailable) as caught:
        Index(url)
    assert str(caught.value).count("\n") == 0 and "no_such_database" in str(caught.value)
    result = CliRunner().invoke(cli, ["--db", url, "status"])
    assert result.exit_code == 1 and "does not exist" in result.output


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_no_server_binary_skips_except_under_ci(monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type) -> None:
    import pg_kit

    monkeypatch.setattr(pg_kit, "server_bin", lambda: None)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="PostgreSQL"), pg_kit.running_server():
        pass


class _WordEncoder:
    """A tiny deterministic encoder: one dimension per known word (unit length)."""

    name, dim = "words", 8
    WORDS = ("red", "blue", "kite", "boat", "hat", "green", "sea", "dog")

    def encode(self, texts: list[str], batch_size: int = 8):  # -> np.ndarray
        import numpy as np

        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, caption in enumerate(texts):
            for word in caption.lower().replace(".", "").split():
                if word in self.WORDS:
                    vectors[row, self.WORDS.index(word)] += 1
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-6)


def test_the_vector_copy_answers_like_the_database(db: str, tmp_path: Path) -> None:
    from alttext.search.semantic import top_captions
    from alttext.search.vectors import compute_pending_vectors

    encoder = _WordEncoder()
    query = encoder.encode(["red kite"])[0]
    with Index(db) as index:
        plant(index, tmp_path / "photos", {"a.png": "A red kite.", "b.png": "A blue boat.", "c.png": "A green hat."})
        assert compute_pending_vectors(index, encoder=encoder) == 3
        exact = top_captions(index, query, encoder.name, k=10, snapshot_min_rows=10**9)
        assert top_captions(index, query, encoder.name, k=10, snapshot_min_rows=1) == exact  # builds the copy
        plant(index, tmp_path / "photos", {"d.png": "A red kite over the red sea."}, start=3)
        assert compute_pending_vectors(index, encoder=encoder) == 1  # stored after the copy: read from SQL
        assert top_captions(index, query, encoder.name, k=10, snapshot_min_rows=1) == \
            top_captions(index, query, encoder.name, k=10, snapshot_min_rows=10**9)
