"""Fixtures for the web tests: an index with planted captions, and the CLI on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from alttext.cli import cli
from alttext.index.db import Index


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "index.sqlite3"


@pytest.fixture
def index(db: Path) -> Iterator[Index]:
    with Index(db) as opened:
        yield opened


@pytest.fixture
def invoke(db: Path):  # -> Callable[..., Result]
    """Run an alttext command in-process (CliRunner) on the test's index."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, ["--db", str(db), *args], input=input, catch_exceptions=False)

    return run
