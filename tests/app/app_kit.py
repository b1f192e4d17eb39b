"""What the app's tests share besides fixtures (tests/app/conftest.py): the pictures, the hostile names,
upload bytes (``draw`` is tests/test_library.py's). Import it as ``app_kit`` (tests/app is on the path)."""

from __future__ import annotations

import os
from pathlib import Path

from test_library import draw  # the pictures tests/test_library.py draws, the same way

# name -> (shapes left to right, background); the fixture model's caption of each is known
PICTURES: dict[str, tuple[list[tuple[str, str]], str]] = {
    "red-circle.jpg": ([("red", "circle")], "white"),
    "blue-square.png": ([("blue", "square")], "black"),
    "yellow-triangle.jpg": ([("yellow", "triangle")], "white"),
}
HOSTILE_NAME = '"><img src=x onerror=alert(1)>.png'  # a green circle; no "/" can be in a name
NON_UTF8_NAME = os.fsdecode(b"caf\xe9-square.png")  # a red square; Latin-1 bytes, not UTF-8
BROKEN = "broken.jpg"  # not a picture: the scan records a failure
HOSTILE_CAPTION = "<script>alert(1)</script><img src=x onerror=alert(1)>"
PORT = 8765
BASE_URL = f"http://127.0.0.1:{PORT}"


def png_bytes(shapes: list[tuple[str, str]], background: str, tmp: Path) -> bytes:
    """A picture as uploaded bytes."""
    path = tmp / "upload.png"
    draw(path, shapes, background)
    return path.read_bytes()


