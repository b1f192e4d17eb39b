"""A seeded corpus of damaged photos: scikit-image's real photos saved in every format the scanner takes,
then mutated (bytes flipped, cut short, header mutilated, a run zeroed). The same seed gives the same files.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
from photos import NAMES, photo
from PIL import Image, features

from alttext.images import IMAGE_EXTENSIONS

# One extension per format Pillow can write here (HEIC through pillow-heif, AVIF through Pillow's own plugin).
SAVE_AS: dict[str, tuple[str, dict[str, object]]] = {
    ".jpg": ("JPEG", {"quality": 85}),
    ".png": ("PNG", {}),
    ".webp": ("WEBP", {"quality": 80}),
    ".tif": ("TIFF", {"compression": "tiff_deflate"}),
    ".gif": ("GIF", {}),
    ".bmp": ("BMP", {}),
    ".heic": ("HEIF", {"quality": 60}),
    ".avif": ("AVIF", {"quality": 60}),
}
assert set(SAVE_AS) <= IMAGE_EXTENSIONS


def _can_write(extension: str) -> bool:
    if extension == ".heic":
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError:
            return False
        return True
    if extension == ".avif":
        return bool(features.check("avif"))
    return True


def extensions() -> list[str]:
    """The formats of the corpus: every one the scanner accepts that this installation can write."""
    return [extension for extension in SAVE_AS if _can_write(extension)]


@cache
def original(name: str, extension: str, side: int) -> bytes:
    """A real photo, scaled so its long side is ``side``, saved as ``extension``."""
    image = photo(name).copy()
    image.thumbnail((side, side))
    kind, options = SAVE_AS[extension]
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


# -- mutations: each takes the file's bytes and the generator, and returns new bytes ---------------------
def flip_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    damaged = bytearray(data)
    for position in rng.integers(0, len(data), size=int(rng.integers(1, 9))):
        damaged[position] = int(rng.integers(0, 256))
    return bytes(damaged)


def truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: int(rng.integers(1, len(data)))]


def mutilate_header(data: bytes, rng: np.random.Generator) -> bytes:
    """Damage the first 64 bytes: magic numbers, sizes, box and chunk lengths."""
    damaged = bytearray(data)
    for position in rng.integers(0, min(64, len(data)), size=int(rng.integers(1, 5))):
        damaged[position] = int(rng.integers(0, 256))
    return bytes(damaged)


def zero_run(data: bytes, rng: np.random.Generator) -> bytes:
    start = int(rng.integers(0, len(data)))
    length = int(rng.integers(16, 257))
    return data[:start] + bytes(min(length, len(data) - start)) + data[start + length :]


MUTATIONS: dict[str, Callable[[bytes, np.random.Generator], bytes]] = {
    "flip": flip_bytes, "cut": truncate, "header": mutilate_header, "zero": zero_run,
}


def mutant(data: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """One damaged copy of ``data``: (the mutation's name, the bytes)."""
    name = list(MUTATIONS)[int(rng.integers(0, len(MUTATIONS)))]
    return name, MUTATIONS[name](data, rng)


def write_corpus(folder: Path, per_format: int, *, seed: int, side: int = 64) -> dict[Path, bytes]:
    """Every format's originals (one per photo) plus ``per_format`` damaged files of each format, under
    ``folder/<format>/``; the same seed writes the same files. Returns what was written, by path."""
    written: dict[Path, bytes] = {}
    for extension in extensions():
        target = folder / extension[1:]
        target.mkdir(parents=True, exist_ok=True)
        sources = [original(name, extension, side) for name in NAMES]
        for name, data in zip(NAMES, sources, strict=True):
            written[target / f"{name}{extension}"] = data
        rng = np.random.default_rng([seed, int.from_bytes(extension.encode(), "big")])
        for i in range(per_format):
            mutation, data = mutant(sources[i % len(sources)], rng)
            written[target / f"damaged-{i:04d}-{mutation}{extension}"] = data
    for path, data in written.items():
        path.write_bytes(data)
    return written


def decodes(data: bytes) -> bool:
    """Whether Pillow itself decodes ``data`` (for the tests' own bookkeeping)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception:
        return False
    return True
