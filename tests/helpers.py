"""Helpers for tests that run the installed ``alttext`` command (a plain module: conftest files can't be
imported reliably when several test folders have one)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def alttext_command() -> list[str]:
    """The installed console script next to this Python (the real entry point, not CliRunner)."""
    script = Path(sys.executable).parent / "alttext"
    if script.exists():
        return [str(script)]
    found = shutil.which("alttext")
    assert found, "the alttext command is not installed"
    return [found]


def run_alttext(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
                input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*alttext_command(), *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, input=input,
    )


def sql_rows(index: object, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    """Rows of one literal SQL query, read through the index's own connection: on SQLite and PostgreSQL
    alike (paths come back as raw bytes on both)."""
    with index.read() as connection:  # type: ignore[attr-defined]
        return [tuple(row) for row in connection.exec_driver_sql(sql).all()]
