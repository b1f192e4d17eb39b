"""Shared test fixtures. Every test runs with its own config, index and Hugging Face cache, offline."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
FIXTURE_MODEL = TESTS / "fixtures" / "shapes-captioner"
sys.path.insert(0, str(TESTS))  # tests.tiny_models and fixtures.shapes import as top-level helpers


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("HF_HOME", str(home / ".cache/huggingface"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no test may reach the network
    for name in list(os.environ):
        if name.startswith("ALTTEXT_") or name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            monkeypatch.delenv(name, raising=False)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``both_backends`` run once on SQLite and once on PostgreSQL (through ``backend``).

    Module scope: a module's SQLite tests run first, then its PostgreSQL ones, and a module-scoped fixture
    (``module_db``: one daemon for a whole module) is built once per backend. A test of such a module marked
    ``sqlite_only("why")`` runs on SQLite alone (a file-format, WAL or FTS5 query-plan test)."""
    definition = metafunc.definition
    if ("backend" in metafunc.fixturenames and definition.get_closest_marker("both_backends")
            and not definition.get_closest_marker("sqlite_only")):
        metafunc.parametrize("backend", ["sqlite", "postgresql"], scope="module")


@pytest.fixture(scope="module")
def backend() -> str:
    """The index's engine: "sqlite", or both for modules marked ``both_backends``."""
    return "sqlite"


@pytest.fixture(scope="session")
def postgres_server():  # -> Iterator[pg_kit.PostgresServer]
    """One PostgreSQL server for the whole session (tests/pg_kit.py), with a migrated template database."""
    import pg_kit

    with pg_kit.running_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_template(postgres_server) -> str:
    """A database migrated to the newest schema: copying it is much faster than migrating each time."""
    from alttext.index.db import Index

    name = postgres_server.new_database()
    Index(postgres_server.url(name)).close()
    return name


@contextlib.contextmanager
def _index_location(folder: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[Path | str]:
    """An SQLite file in ``folder``, or (backend "postgresql") a fresh migrated database's address, dropped
    at the end."""
    if backend != "postgresql":
        yield folder / "index.sqlite3"
        return
    server = request.getfixturevalue("postgres_server")
    name = server.new_database(template=request.getfixturevalue("postgres_template"))
    with server.connect(name) as connection:  # every index has its own identity, copies too
        connection.execute("UPDATE index_identity SET uid = md5(random()::text)")
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture
def db(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[Path | str]:
    """Where the test's index lives: an SQLite file, or (backend "postgresql") a fresh database's address
    (a folder's conftest or a test module may define its own)."""
    with _index_location(tmp_path, backend, request) as location:
        yield location


@pytest.fixture(scope="module")
def module_db(tmp_path_factory: pytest.TempPathFactory, backend: str,
              request: pytest.FixtureRequest) -> Iterator[Path | str]:
    """Like ``db``, one index for a whole module (its tests share it, e.g. one running daemon)."""
    with _index_location(tmp_path_factory.mktemp("module-index"), backend, request) as location:
        yield location


@pytest.fixture
def copy_of_index(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[Path | str], Path | str]]:
    """``copy_of_index(location)``: a copy of a filled index that no one has open (e.g. ``module_db``, filled
    once per module), for this test alone: the SQLite file copied, or a database made with that one as its
    template (what ``db`` does with the migrated template). Far cheaper than filling an index per test."""
    made: list[str] = []

    def copy(location: Path | str) -> Path | str:
        if not str(location).startswith("postgresql://"):
            target = tmp_path / "index.sqlite3"
            shutil.copyfile(location, target)  # its writer closed it: the WAL is checkpointed into the file
            return target
        server = request.getfixturevalue("postgres_server")
        name = server.new_database(template=str(location).rsplit("/", 1)[1])
        made.append(name)
        with server.connect(name) as connection:  # as in ``db``: a copy has an identity of its own
            connection.execute("UPDATE index_identity SET uid = md5(random()::text)")
        return server.url(name)

    yield copy
    for name in made:
        request.getfixturevalue("postgres_server").drop_database(name)


@pytest.fixture
def index(db: Path | str):  # -> Iterator[alttext.index.db.Index]
    """The test's index at ``db``, opened (created and migrated)."""
    from alttext.index.db import Index

    with Index(db) as opened:
        yield opened


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight tiny vit-gpt2 model folder (proves plumbing, not caption quality)."""
    from tiny_models import build_tiny_vit_gpt2

    return build_tiny_vit_gpt2(tmp_path_factory.mktemp("tiny-vit-gpt2"))


@pytest.fixture(scope="session")
def shapes_model() -> Path:
    """The trained fixture captioner (see tests/fixtures/README.md)."""
    assert (FIXTURE_MODEL / "config.json").is_file(), "fixture model missing: see tests/fixtures/README.md"
    return FIXTURE_MODEL


@pytest.fixture(scope="session")
def shapes_captioner(shapes_model: Path):  # -> alttext.captioning.Captioner
    """One loaded fixture captioner shared by the tests that only need captions."""
    from alttext.captioning import Captioner

    return Captioner(str(shapes_model), device="cpu")
