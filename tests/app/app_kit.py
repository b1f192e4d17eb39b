"""What the app's tests share besides fixtures (tests/app/conftest.py): the pictures, the hostile names,
upload bytes (``draw`` is tests/test_library.py's). Import it as ``app_kit`` (tests/app is on the path)."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from test_library import draw  # the pictures tests/test_library.py draws, the same way

from alttext.library import Library

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


def photo_ref(library: Library, file_id: int) -> str:
    """How the app names a photo in its addresses: the index's id (first 8 hex digits), then the file's id."""
    return f"{library.uid[:8]}-{file_id}"


def png_bytes(shapes: list[tuple[str, str]], background: str, tmp: Path) -> bytes:
    """A picture as uploaded bytes."""
    path = tmp / "upload.png"
    draw(path, shapes, background)
    return path.read_bytes()


@contextlib.contextmanager
def serving(library: Library) -> Iterator[str]:
    """The app on ``library``, served by uvicorn on 127.0.0.1 in a background thread; yields
    ``http://127.0.0.1:PORT``."""
    import uvicorn

    from alttext.app import create_app

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    app = create_app(library, token=None, host="127.0.0.1", port=port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="live-server")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
