"""The sentence encoder's weights, memory-mapped instead of copied (alttext/search/encoder.py): the same
tensors as safetensors' own loader, hence the same vectors, bit for bit (docs/architecture.md §6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from alttext.search import encoder as encoder_module
from alttext.search.encoder import mapped_tensors, semantic_available


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and np.array_equal(a[k], b[k]) for k in a
    )


def test_mapped_tensors_are_what_safetensors_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    tensors = {
        "layer.weight": rng.standard_normal((7, 5)).astype(np.float32),
        "layer.bias": rng.standard_normal(5).astype(np.float32),
        "position_ids": np.arange(12, dtype=np.int64).reshape(1, 12),
        "scalar": np.array(3.5, dtype=np.float64),
        "empty": np.zeros((0, 4), dtype=np.int32),
    }
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt"})
    mapped = mapped_tensors(path)
    assert _same(mapped, load_file(str(path))) and _same(mapped, tensors)
    assert not mapped["layer.weight"].flags.writeable  # a view of the file, never written through


def test_a_dtype_it_does_not_map_falls_back_to_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "half.safetensors"
    save_file({"w": np.arange(6, dtype=np.float16).reshape(2, 3), "b": np.ones(3, dtype=np.float32)}, str(path))
    assert _same(mapped_tensors(path), load_file(str(path)))


@pytest.mark.skipif(not semantic_available(), reason="the semantic extra is not installed")
def test_the_encoder_gives_the_same_vectors_as_with_copied_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = ["a dog next to a tree", "two red circles on a white background", "x", "Ünïcödé façade, 2024"]
    mapped = encoder_module.SentenceEncoder().encode(texts)
    monkeypatch.setattr(encoder_module, "mapped_tensors", lambda path: load_file(str(path)))
    copied = encoder_module.SentenceEncoder().encode(texts)
    assert mapped.dtype == copied.dtype == np.float32 and np.array_equal(mapped, copied)
