"""Fixtures for the web tests: the CLI on the test's index (`db` and `index` come from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from alttext.cli import cli


@pytest.fixture
def invoke(db: Path | str):  # -> Callable[..., Result]
    """Run an alttext command in-process (CliRunner) on the test's index."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, ["--db", str(db), *args], input=input, catch_exceptions=False)

    return run
