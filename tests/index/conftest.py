"""What the migration tests of this folder share: an index with no schema yet on either backend, and
Alembic driven on it revision by revision (docs/architecture.md §12)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def empty_db(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[str | Path]:
    """Where an index with no schema yet lives (not the migrated ``db`` fixture)."""
    if backend != "postgresql":
        yield tmp_path / "index.sqlite3"
        return
    server = request.getfixturevalue("postgres_server")
    name = server.new_database()
    yield server.url(name)
    server.drop_database(name)
