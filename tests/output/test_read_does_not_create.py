"""A mistyped ``--db`` for a command that reads (or changes) an index is one line and exit 2, and
creates no file or folder; the commands that fill an index (scan, watch, serve) still create it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from alttext.cli import cli

READERS = [
    ["status"], ["status", "--json"], ["search", "dog"], ["show", "a.jpg"], ["export"], ["export", "--format", "json"],
    ["review"], ["lint"], ["embed"], ["embed", "--dry-run"], ["edit", "a.jpg", "a dog"], ["approve", "a.jpg"],
]


@pytest.mark.parametrize("args", READERS, ids=lambda args: " ".join(args))
def test_a_missing_index_is_one_line_and_nothing_is_created(tmp_path: Path, args: list[str]) -> None:
    db = tmp_path / "typo" / "index.sqlite3"
    result = CliRunner().invoke(cli, ["--db", str(db), *args])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"alttext: error: no index at {db} (run `alttext scan` or `alttext watch` to create one)"]
    assert list(tmp_path.iterdir()) == []


def test_variants_with_credentials_but_no_index_creates_nothing(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # never reached: the index is missing
    db = tmp_path / "typo.sqlite3"
    result = CliRunner().invoke(cli, ["--db", str(db), "variants", "a.jpg"])
    assert result.exit_code == 2, result.output
    assert "no index at" in result.output
    assert list(tmp_path.iterdir()) == []


def test_scan_still_creates_the_index(tmp_path: Path) -> None:
    db = tmp_path / "new" / "index.sqlite3"
    (tmp_path / "photos").mkdir()
    result = CliRunner().invoke(cli, ["--db", str(db), "scan", str(tmp_path / "photos")])
    assert result.exit_code == 0, result.output
    assert db.is_file()
    assert CliRunner().invoke(cli, ["--db", str(db), "status"]).exit_code == 0


def test_the_library_api_reads_without_creating(tmp_path: Path) -> None:
    from alttext.library import IndexMissing, Library

    db = tmp_path / "none.sqlite3"
    with Library(db, create_index=False) as library, pytest.raises(IndexMissing):
        library.status()
    assert not db.exists()
