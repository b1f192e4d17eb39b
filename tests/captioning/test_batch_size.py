"""Images per model call: the settings' number when given, else the model's (engine.default batch sizes), and
a scan's batches follow the captioner's from the moment it loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alttext.captioning import Captioner
from alttext.captioning.engine import CPU_GPT2_BATCH_SIZE
from alttext.config import load_settings
from alttext.index.db import Index
from alttext.index.ingest import Ingester
from alttext.index.scan import scan
from alttext.vocabulary import DEFAULT_BATCH_SIZE


def test_gpt2_captioners_on_cpu_take_the_larger_batch_unless_told(tiny_model: Path) -> None:
    assert CPU_GPT2_BATCH_SIZE > DEFAULT_BATCH_SIZE
    assert Captioner(str(tiny_model), device="cpu").batch_size == CPU_GPT2_BATCH_SIZE
    assert Captioner(str(tiny_model), device="cpu", batch_size=3).batch_size == 3
    assert Captioner(str(tiny_model), device="cpu", batch_size=DEFAULT_BATCH_SIZE).batch_size == DEFAULT_BATCH_SIZE
    with pytest.raises(ValueError, match="batch size"):
        Captioner(str(tiny_model), device="cpu", batch_size=0)


def test_other_models_keep_the_default(tmp_path: Path) -> None:
    from tiny_models import build_tiny_blip

    blip = build_tiny_blip(tmp_path / "blip")
    assert Captioner(str(blip), device="cpu").batch_size == DEFAULT_BATCH_SIZE


def test_the_setting_is_unset_unless_given(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")
    assert load_settings(environ={}, path=config).batch_size is None
    config.write_text("batch_size = 12\n")
    assert load_settings(environ={}, path=config).batch_size == 12


def _pictures(folder: Path, count: int) -> None:
    folder.mkdir()
    rng = np.random.default_rng(7)
    for number in range(count):
        pixels = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{number:02d}.png")


def test_a_scan_batches_by_the_captioners_size(tiny_model: Path, tmp_path: Path) -> None:
    """Unset, a scan starts from the default and takes the captioner's size when the model loads: 20 new
    pictures are one model call for a GPT-2 captioner on CPU (batches of 32), not three of 8."""
    _pictures(tmp_path / "photos", 20)
    captioner = Captioner(str(tiny_model), device="cpu")
    with Index(str(tmp_path / "index.sqlite3")) as index:
        summary = scan(index, [str(tmp_path / "photos")], lambda: captioner, max_pixels=10_000_000)
    assert summary.captioned == 20
    assert captioner.calls == 1

    told = Captioner(str(tiny_model), device="cpu", batch_size=8)
    with Index(str(tmp_path / "other.sqlite3")) as index:
        scan(index, [str(tmp_path / "photos")], lambda: told, max_pixels=10_000_000)
    assert told.calls == 3  # 8 + 8 + 4


def test_an_ingester_starts_from_the_default_until_the_model_loads(tiny_model: Path, tmp_path: Path) -> None:
    with Index(str(tmp_path / "index.sqlite3")) as index:
        ingester = Ingester(index, lambda: Captioner(str(tiny_model), device="cpu"))
        assert ingester.batch_size == DEFAULT_BATCH_SIZE
        assert ingester.captioner.batch_size == ingester.batch_size == CPU_GPT2_BATCH_SIZE
