"""Fixtures of the browser app's tests (tests/app): a small captioned library, the app on it, a live server.

The pictures are captioned once per session by the trained fixture model (a scan costs seconds); each
test then gets its own copy of that index and of the photo folder, restored at the same absolute path
(the index stores absolute paths), so a test may edit, approve, embed or add uploads freely.

- ``app_library``: a ``Library`` on that copy, or on a PostgreSQL copy of it in modules marked
  ``both_backends`` (``app_photos`` is the folder; ``PICTURES`` says what each picture shows, ``BROKEN``
  fails to decode, ``HOSTILE_NAME`` and ``NON_UTF8_NAME`` are file names that must render as text);
- ``app_client``: a Starlette ``TestClient`` on ``create_app(app_library)``, as on loopback port 8765;
- ``csrf_of``: ``csrf_of(client, "/photo/1")`` -> the form token on that page;
- ``live_server``: uvicorn in a thread on 127.0.0.1 and a free port; yields the base URL (no trailing /).
"""

from __future__ import annotations

import re
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from app_kit import BASE_URL, BROKEN, HOSTILE_NAME, NON_UTF8_NAME, PICTURES, PORT, draw, serving

from alttext.library import Library, Settings, load_settings


@dataclass(frozen=True)
class Template:
    root: Path  # the folder every test's copy lives in (same absolute paths)
    pristine: Path  # the captioned index and photos as the scan left them

    @property
    def photos(self) -> Path:
        return self.root / "photos"

    @property
    def db(self) -> Path:
        return self.root / "index.sqlite3"


def app_settings(root: Path, shapes_model: Path) -> Settings:
    """Settings that read no config file or environment: session fixtures run before the isolation."""
    return load_settings(environ={}, path=root / "no-config.toml").replace(
        model=str(shapes_model), cache_dir=str(root / "cache"), upload_folder=str(root / "uploads"))


@pytest.fixture(scope="session")
def _app_template(tmp_path_factory: pytest.TempPathFactory, shapes_model: Path) -> Template:
    root = tmp_path_factory.mktemp("app-library")
    template = Template(root, root / "pristine")
    photos = template.photos
    for name, (shapes, background) in PICTURES.items():
        draw(photos / name, shapes, background)
    draw(photos / HOSTILE_NAME, [("green", "circle")], "white")
    draw(photos / NON_UTF8_NAME, [("red", "square")], "black")
    (photos / BROKEN).write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    with Library(template.db, settings=app_settings(root, shapes_model)) as library:
        library.scan([str(photos)])
    template.pristine.mkdir()
    shutil.copy2(template.db, template.pristine / "index.sqlite3")
    shutil.copytree(photos, template.pristine / "photos")
    return template


def _restore(template: Template) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{template.db}{suffix}").unlink(missing_ok=True)
    shutil.copy2(template.pristine / "index.sqlite3", template.db)
    shutil.rmtree(template.photos, ignore_errors=True)
    shutil.copytree(template.pristine / "photos", template.photos)
    shutil.rmtree(template.root / "uploads", ignore_errors=True)


@pytest.fixture
def app_photos(_app_template: Template) -> Path:
    """The photo folder of ``app_library`` (restored for each test)."""
    return _app_template.photos


@pytest.fixture(scope="session")
def _app_postgres_template(_app_template: Template, postgres_server) -> str:  # type: ignore[no-untyped-def]
    """The captioned index moved into a PostgreSQL database (``alttext db copy``, ids kept), the template of
    every PostgreSQL test's copy: the same library on the other backend without a second scan."""
    from alttext.index.copy import copy_index

    name = postgres_server.new_database()
    copy_index(_app_template.pristine / "index.sqlite3", postgres_server.url(name))
    return str(name)


@pytest.fixture
def app_library(_app_template: Template, shapes_model: Path, backend: str,
                request: pytest.FixtureRequest) -> Iterator[Library]:
    """The library on SQLite, or (modules marked ``both_backends``) on a fresh PostgreSQL copy of it."""
    _restore(_app_template)
    location: Path | str = _app_template.db
    if backend == "postgresql":
        server = request.getfixturevalue("postgres_server")
        name = server.new_database(template=request.getfixturevalue("_app_postgres_template"))
        location = server.url(name)
    try:
        with Library(location, settings=app_settings(_app_template.root, shapes_model)) as library:
            yield library
    finally:
        if backend == "postgresql":
            server.drop_database(name)


@pytest.fixture
def app_client(app_library: Library) -> Iterator[object]:  # -> starlette.testclient.TestClient
    from starlette.testclient import TestClient

    from alttext.app import create_app

    with TestClient(create_app(app_library, token=None, host="127.0.0.1", port=PORT), base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def csrf_of() -> Callable[[object, str], str]:
    """``csrf_of(client, path)``: GET the page and return its form token (the client keeps the cookie)."""

    def find(client: object, path: str) -> str:
        response = client.get(path)  # type: ignore[attr-defined]
        assert response.status_code == 200, (path, response.status_code)
        match = re.search(r'name="csrf" value="([^"]+)"', response.text)
        assert match, f"no csrf field on {path}"
        return match.group(1)

    return find


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server(app_library: Library) -> Iterator[str]:
    """The app on the test library, served for real (see ``serving``)."""
    with serving(app_library) as url:
        yield url
