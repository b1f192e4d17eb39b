"""Fixtures for the metadata tests (helpers live in metadata_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import metadata_helpers as helpers
import pytest
from metadata_helpers import HAVE_EXIFTOOL, ExifTool


@pytest.fixture(scope="session")
def exiftool() -> Iterator[ExifTool]:
    if not HAVE_EXIFTOOL:
        pytest.skip("exiftool (libimage-exiftool-perl) not installed")
    tool = ExifTool()
    yield tool
    tool.close()


@pytest.fixture
def photos(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """``photos("jpeg_rich")`` builds that photo in a fresh folder of tmp_path."""

    def make(kind: str) -> Path:
        folder = tmp_path / kind
        folder.mkdir(exist_ok=True)
        needs_tool = kind in ("jpeg_rich", "jpeg_exif_only")
        if needs_tool:
            tool = request.getfixturevalue("exiftool")
            return getattr(helpers, f"build_{kind}")(folder, tool)
        return getattr(helpers, f"build_{kind}")(folder)

    return make
