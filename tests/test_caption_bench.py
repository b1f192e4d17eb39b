"""Keep bench/caption_bench.py and bench/caption_equivalence.py runnable, and the fast beam path exact.

Tiny random models only (no timing asserts: the figures come from the full-size benchmark run by hand).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_quick_benchmark_runs_every_variant_on_a_tiny_model(tmp_path: Path) -> None:
    bench = _module("caption_bench")
    model_dir = tmp_path / "model"
    bench.build_model(model_dir, "tiny", new_tokens=6, beams=2)  # saves the builder subprocess
    out = tmp_path / "bench.json"
    completed = subprocess.run(
        [sys.executable, str(BENCH / "caption_bench.py"), "--arch", "tiny", "--quick", "--images", "3",
         "--new-tokens", "6", "--beams", "2", "--batch-size", "2", "--model-dir", str(model_dir), "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.strip().splitlines()
    assert lines[-1].startswith("speedup: ") and float(lines[-1].split()[1]) > 0
    assert lines[-2].startswith("speedup_int8: ") and float(lines[-2].split()[1]) > 0
    summary = json.loads(out.read_text())
    assert set(summary["results"]) == {"naive", "fp32", "int8"}
    for variant, result in summary["results"].items():
        assert result["images"] == 3 and len(result["captions"]) == 3, variant
        assert result["peak_rss_mib"] > 0 and result["images_per_s"] > 0
        assert result["threads"] == 2
        # 6 new tokens (fewer words only if the random model picked its special token)
        assert all(0 < len(caption.split()) <= 6 for caption in result["captions"]), result["captions"]
    assert summary["results"]["fp32"]["same_as_naive"] == 3
    assert summary["results"]["fp32"]["generation_params"]["num_beams"] == 2


def test_benchmark_images_are_deterministic_rgb_files(tmp_path: Path) -> None:
    from PIL import Image

    bench = _module("caption_bench")
    first = bench.make_images(tmp_path / "a", 20)
    second = bench.make_images(tmp_path / "b", 20)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    sizes = set()
    for path in first:
        with Image.open(path) as image:
            assert image.mode == "RGB"
            sizes.add(image.size)
    assert len(sizes) > 10


@pytest.mark.parametrize("beams", [1, 3])
def test_shared_beam_search_matches_plain_generate(tiny_model: Path, beams: int) -> None:
    """fast_beam.generate_shared (folded and repeated cross-attention) == generate, image by image."""
    import torch

    from alttext.captioning import fast_beam, load_model

    loaded = load_model(str(tiny_model), "cpu")
    model = loaded.model
    torch.manual_seed(0)
    pixels = torch.randn(5, 3, 32, 32)
    settings = {"num_beams": beams, "max_new_tokens": 6, "min_new_tokens": 6, "output_scores": True,
                "return_dict_in_generate": True}
    with torch.inference_mode():
        reference = [model.generate(pixel_values=pixels[i : i + 1], **settings) for i in range(5)]
        for folded in (False, True):
            if folded:
                assert fast_beam.enable_folded_cross_attention(model)
            output = fast_beam.generate_shared(model, pixels, **settings)
            for i, expected in enumerate(reference):
                assert output.sequences[i].tolist() == expected.sequences[0].tolist()
                if beams > 1:
                    expected_score = float(expected.sequences_scores[0])
                    assert float(output.sequences_scores[i]) == pytest.approx(expected_score, abs=1e-5)


def test_equivalence_script_on_a_tiny_model(tiny_model: Path, tmp_path: Path) -> None:
    equivalence = _module("caption_equivalence")
    out = tmp_path / "eq.json"
    status = equivalence.main([str(tiny_model), "--images", "4", "--batch-size", "3", "--json", str(out)])
    summary = json.loads(out.read_text())
    assert summary["results"]["fp32"]["exact"] == 4, summary
    assert "correct" not in summary["results"]["fp32"]  # no shapes.py next to a tmp model: no truth
    assert status == (0 if summary["int8_ok"] else 1)
