"""Real photos that scikit-image ships, as Pillow images (no download needed)."""

from __future__ import annotations

from functools import cache

from PIL import Image

NAMES = ("astronaut", "chelsea", "coffee", "rocket")


@cache
def photo(name: str = "chelsea") -> Image.Image:
    import skimage.data

    array = getattr(skimage.data, name)()
    return Image.fromarray(array).convert("RGB")
