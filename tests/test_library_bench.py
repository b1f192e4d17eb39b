"""Keep bench/library_bench.py runnable: its camera-like library, and a quick run on a tiny random model.

No timing asserts: the figures come from the full-size run by hand (bench/README.md).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_library_bench", BENCH / "library_bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_library_is_camera_like_and_deterministic(tmp_path: Path) -> None:
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    bench = _module()
    first = bench.make_library(tmp_path / "a", 8, 0.3)
    second = bench.make_library(tmp_path / "b", 8, 0.3)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert len({p.read_bytes() for p in first}) == 8  # every photo its own: no duplicates for scan to skip
    assert {p.suffix for p in first} == {".jpg", ".png", ".heic"}
    progressive = set()
    for path in first:
        with Image.open(path) as image:
            assert image.size == bench.camera_size(0.3)
            exif = image.getexif()
            assert exif.get(0x010F) and exif.get(0x0110) and exif.get(0x0112) in (1, 6), path
            assert exif.get_ifd(0x8769).get(0x9003, "").startswith("2024:"), path
            if path.suffix == ".jpg":
                progressive.add(bool(image.info.get("progressive")))
    assert progressive == {True, False}
    assert bench.camera_size(12) == (4000, 3000)


def test_quick_run_on_a_tiny_model_reports_every_figure(tmp_path: Path) -> None:
    # The bench's own tiny vit-gpt2 (bench/caption_bench.py's, no end-of-text token): tests/tiny_models.py's
    # can emit its EOS first, and an empty caption is a failed photo, which the bench refuses to time.
    out = tmp_path / "bench.json"
    completed = subprocess.run(
        [sys.executable, str(BENCH / "library_bench.py"), "--quick", "--photos", "3", "--megapixels", "0.2,0.4",
         "--beams", "2", "--new-tokens", "4", "--arch", "tiny", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["photos"] == 3 and summary["model"] == "tiny vit-gpt2, random weights"
    assert set(summary["results"]) == {"none", "int8"}
    for quantize, result in summary["results"].items():
        assert result["caption_images_per_s"] > 0 and result["caption_peak_rss_mib"] > 0, quantize
        assert result["generation_params"]["num_beams"] == 2
        assert set(result["scans"]) == {"0.2", "0.4"}
        for scan in result["scans"].values():
            assert scan["images_per_s"] > 0 and scan["ratio"] > 0 and scan["peak_rss_mib"] > 0
            assert scan["steady_images_per_s"] > 0 and scan["startup_s"] >= 0 and scan["after_s"] >= 0
            assert scan["whole_ratio"] > 0 and scan["projected_ratio"] > 0 and scan["decode_threads"] == 2
            assert scan["s_per_photo"] > 0 and scan["projected_hours_10k"] > 0
            assert scan["model_calls"] >= 1
    assert "scan 0.4 MP" in completed.stdout and "caption-only" in completed.stdout


def test_scan_figures_split_start_up_steady_pace_and_the_tail() -> None:
    bench = _module()
    # 16 photos, batches of 8: the first stored at 10 s (from a start at 0), the second at 12 s, then 1 s after.
    stored = [10.0] * 8 + [12.0] * 8
    figures = bench.scan_figures(0.0, 13.0, stored, 16, caption_rate=5.0, batch_size=8)
    assert figures["steady_images_per_s"] == 4.0  # 8 photos in the 2 s after the first batch
    assert figures["startup_s"] == 8.0  # 10 s to the first batch, less 2 s for its 8 photos at the steady pace
    assert figures["after_s"] == 1.0 and figures["ratio"] == 0.8 and figures["wall_s"] == 13.0
    assert abs(figures["whole_ratio"] - 16 / 13 / 5) < 1e-12
    assert abs(figures["projected_ratio"] - 10_000 / 5 / figures["projected_hours_10k"] / 3600) < 1e-12
    # 13 s for the first 16 (start-up and the tail once), then 9,984 more at 0.25 s each.
    assert abs(figures["projected_hours_10k"] * 3600 - (13 + 9984 * 0.25)) < 1e-6
