"""An image as a remote vision model is sent it: upright RGB, at most ``MAX_SIDE`` pixels on its longer
side, as a baseline JPEG in a ``data:`` URL (docs/architecture.md §14).

The image arrives decoded by ``alttext.images`` (EXIF orientation applied, a RAW's embedded preview),
so what the endpoint sees is what a local model would. 1024 px is what hosted vision APIs bill and look
at anyway (OpenAI's "high" detail tiles at 512 and caps the short side at 768), and what a local
llava/Qwen-VL resizes to or below; quality 85 keeps a 1024 px photo near 150 KB.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from PIL import Image

MAX_SIDE = 1024
JPEG_QUALITY = 85


@dataclass
class RemoteImage:
    """One image ready to send, and what happened to it (``RemoteCaptioner`` fills those in)."""

    data_url: str
    width: int
    height: int
    jpeg_bytes: int
    deadline_at: float | None = None  # monotonic time its deadline passes; set by its first request
    alt_failed: bool = False
    description: str | None = None
    described: bool = False  # a description was asked for (it may still be None)
    image_text: str | None = None
    text_read: bool = False  # the text in it was asked for (it may still be None)


def encode_image(image: Image.Image, *, max_side: int = MAX_SIDE, quality: int = JPEG_QUALITY) -> RemoteImage:
    """``image`` shrunk to fit ``max_side`` (never enlarged) and JPEG-encoded; thread-safe (a copy is made)."""
    picture = image.convert("RGB")  # a copy even when already RGB: the caller's image is left alone
    if max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality, optimize=True)
    data = buffer.getvalue()
    url = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
    return RemoteImage(url, picture.width, picture.height, len(data))
