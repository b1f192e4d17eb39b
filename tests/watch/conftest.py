"""Fixtures for the daemon tests (helpers live in watchkit.py, importable from this folder)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from watchkit import Daemon, clean_env


@pytest.fixture
def make_daemon(tmp_path: Path, tiny_model: Path, db: Path | str) -> Iterator[Callable[..., Daemon]]:
    """``make_daemon(roots, *flags, env=...)``: an unstarted daemon on the test's index (``db``: an SQLite
    file, or a PostgreSQL database in modules marked ``both_backends``) with the tiny model; every daemon
    made is killed at teardown if a test left it running (before ``db`` drops its database)."""
    made: list[Daemon] = []

    def make(roots: list[Path], *flags: str, env: dict[str, str] | None = None,
             prefix: list[str] | None = None) -> Daemon:
        daemon = Daemon(db, roots, tiny_model, *flags,
                        env=clean_env(tmp_path / "home", **(env or {})), log=tmp_path / "daemon.log", prefix=prefix)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.kill()
