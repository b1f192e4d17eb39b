"""Fixtures for the output tests: an index planted through the real scan pipeline, and the CLI on it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from alttext.cli import cli

sys.path.insert(0, str(Path(__file__).parents[1] / "web"))  # planted.py: captions without a model


@pytest.fixture
def invoke(db: Path | str):  # -> Callable[..., Result]
    """Run an alttext command in-process (CliRunner) on the test's index; exceptions are kept in the
    result (a traceback is what some of these tests look for), and ANSI sequences are not stripped
    (click strips them when the output is not a terminal; a terminal gets them)."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, ["--db", str(db), *args], input=input, color=True)  # as a terminal gets it

    return run
