"""What the app's tests share besides fixtures (tests/app/conftest.py): the pictures, the hostile names,
drawing helpers. Import it as ``app_kit`` (tests/app is on the path, as for browser_kit)."""

from __future__ import annotations

import os
from pathlib import Path

from fixtures.shapes import BACKGROUNDS, COLOURS
from PIL import Image, ImageDraw

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


def draw(path: Path, shapes: list[tuple[str, str]], background: str, size: tuple[int, int] = (160, 128)) -> None:
    """Shapes of 35 % of the short side, evenly spaced left to right (as tests/test_library.py draws)."""
    image = Image.new("RGB", size, BACKGROUNDS[background])
    pen = ImageDraw.Draw(image)
    width, height = size
    side = int(min(size) * 0.35)
    for i, (colour, shape) in enumerate(shapes):
        x0 = int((i + 0.5) * width / len(shapes) - side / 2)
        y0 = (height - side) // 2
        box = (x0, y0, x0 + side, y0 + side)
        if shape == "circle":
            pen.ellipse(box, fill=COLOURS[colour])
        elif shape == "square":
            pen.rectangle(box, fill=COLOURS[colour])
        else:
            pen.polygon([((box[0] + box[2]) / 2, box[1]), (box[2], box[3]), (box[0], box[3])], fill=COLOURS[colour])
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        image.save(path, quality=92)
    else:
        image.save(path)


def png_bytes(shapes: list[tuple[str, str]], background: str, tmp: Path) -> bytes:
    """A picture as uploaded bytes."""
    path = tmp / "upload.png"
    draw(path, shapes, background)
    return path.read_bytes()


