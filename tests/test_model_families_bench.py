"""Keep bench/model_families_bench.py runnable: tiny stand-ins of each model it measures, every variant.

No timing asserts: the figures come from the full-size run by hand (bench/README.md)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_model_families", BENCH / "model_families_bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # 8 subprocesses that each import torch: ~1 min
def test_quick_run_captions_with_every_model_in_fp32_and_int8(tmp_path: Path) -> None:
    bench = _bench()
    models = tmp_path / "models"
    for name in bench.MODELS:  # built here: saves the builder subprocesses
        built = bench.build_model(models / name, name, "tiny")
        assert built["params"] > 0 and built["new_tokens"] in (bench.ALT_TEXT_TOKENS, bench.VIT_GPT2_TOKENS)
    out = tmp_path / "bench.json"
    completed = subprocess.run(
        [sys.executable, str(BENCH / "model_families_bench.py"), "--arch", "tiny", "--quick",
         "--model-dir", str(models), "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "building" not in completed.stdout  # the folders built above were reused
    summary = json.loads(out.read_text())
    assert list(summary["models"]) == list(bench.MODELS)
    assert "load average" in summary["uptime_start"] and "load average" in summary["uptime_end"]
    families = {"florence-2-base": "florence-2", "florence-2-large": "florence-2", "smolvlm-256m": "chat-vlm",
                "vit-gpt2": "encoder-decoder"}
    for name, entry in summary["models"].items():
        assert set(entry["results"]) == {"fp32", "int8"}, name
        for variant, result in entry["results"].items():
            assert result["family"] == families[name]
            assert result["images"] == bench.QUICK_IMAGES and len(result["captions"]) == bench.QUICK_IMAGES
            assert result["s_per_image"] > 0 and result["peak_rss_mib"] > 0 and result["threads"] == 2
            params = result["generation_params"]
            assert params["max_new_tokens"] == entry["new_tokens"]
            assert (params.get("quantize") == "int8") == (variant == "int8")
            # A fixed length: every caption has that many tokens, fewer words only where one was special.
            assert 0 < result["words_per_caption"] <= entry["new_tokens"], (name, variant)
    report = completed.stdout
    assert "smolvlm-256m      int8 speed-up over fp32:" in report
    assert "florence-2-large fp32 / vit-gpt2 fp32:" in report


def test_the_bench_refuses_unknown_models_and_variants() -> None:
    bench = _bench()
    for argv in (["--models", "gpt-5"], ["--variants", "fp16"], ["--images", "0"]):
        with pytest.raises(SystemExit):
            bench.parse_args(argv)
    args = bench.parse_args(["--models", "vit-gpt2,smolvlm-256m", "--device", "cpu"])
    assert args.models == ["vit-gpt2", "smolvlm-256m"] and args.variants == ["fp32", "int8"]
