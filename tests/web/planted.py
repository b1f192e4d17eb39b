"""Building an index with chosen captions, through the real scan pipeline, without a model.

Each planted file is a small solid-colour PNG of its own colour; ``PlantedCaptioner`` stands in for the
captioner and answers each colour with the caption planted for it. So the files, images, captions and
FTS rows are exactly what a real scan makes (reconcile, fingerprint, ingest, alt-text post-processing),
in a fraction of a second and without torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

from alttext.index.db import Index
from alttext.index.scan import ScanSummary, scan


def colour(i: int) -> tuple[int, int, int]:
    return (37 * i + 11) % 256, (91 * i + 53) % 256, (143 * i + 101) % 256


class PlantedCaptioner:
    """Duck-types alttext.captioning.Captioner for the ingester."""

    model_id = "planted-captioner"
    revision = None
    generation_params: ClassVar[dict[str, object]] = {}
    batch_size = 8

    def __init__(self, captions: dict[tuple[int, int, int], str]) -> None:
        self.captions = captions
        self.calls = 0

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return np.asarray(image.convert("RGB"), dtype=np.float32)[:1, :1, :]  # the colour is the key

    def describe(self, pixels: np.ndarray) -> None:
        return None

    def read_text(self, pixels: np.ndarray) -> None:
        return None  # reads no text in the picture

    def generate(self, pixels: np.ndarray) -> list[str]:
        self.calls += 1
        return [self.captions[tuple(round(float(v)) for v in item[0, 0])] for item in pixels]


def write_image(path: Path, i: int, size: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour(i)).save(path)


def plant(index: Index, root: Path, captions: dict[str, str], *, start: int = 0) -> ScanSummary:
    """Create ``root/relative`` for each entry and scan ``root``; the model 'says' the given caption."""
    by_colour = {}
    for i, (relative, caption) in enumerate(captions.items(), start=start):
        write_image(root / relative, i)
        by_colour[colour(i)] = caption
    captioner = PlantedCaptioner(by_colour)
    return scan(index, [str(root)], lambda: captioner, batch_size=8, max_pixels=10_000_000)
