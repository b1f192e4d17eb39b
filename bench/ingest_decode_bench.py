"""Ingest's per-photo cost before the model: identity + the model's input, on camera-size JPEGs.

Compares, in the same run and on the same files (docs/architecture.md §2):

- ``pixel-key`` (the code before migration 0006): full decode, hash of the upright pixels, thumbnail;
- ``content-key``: the new path for a photo the index doesn't know: read + hash of the picture data and
  header, then a DCT-draft decode to the model's thumbnail;
- ``known``: the new path for a photo whose image is already captioned (duplicate, copy, metadata edit):
  read + hash, no decode.

Each variant runs in its own fresh process, so its peak RSS is its own; the figure given is the peak
above the process's RSS after imports (the peak is reset there: Linux's clear_refs). The photos are
scikit-image's bundled ones, upscaled to 12 MP and 24 MP with noise so that they compress like camera
photos, saved with EXIF.

    python bench/ingest_decode_bench.py                  # 12 MP and 24 MP, 5 repeats
    python bench/ingest_decode_bench.py --quick          # 2 MP, 2 repeats (smoke run)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = ("pixel-key", "content-key", "known")
SIZES = {"12MP": (4000, 3000), "24MP": (6000, 4000), "2MP": (1632, 1224)}


def make_photo(path: Path, size: tuple[int, int], seed: int = 0) -> None:
    import numpy as np
    import skimage.data
    from PIL import Image

    base = Image.fromarray(skimage.data.chelsea()).resize(size, Image.Resampling.BICUBIC)
    noise = np.random.default_rng(seed).normal(0, 6, (size[1], size[0], 3))
    pixels = np.clip(np.asarray(base, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Camera maker", "Camera model", 1
    Image.fromarray(pixels).save(path, quality=92, exif=exif.tobytes())


def measure(variant: str, path: str, repeats: int) -> dict[str, float]:
    """In this (fresh) process: ms per photo (best of ``repeats``) and peak RSS above the start."""
    from PIL import Image

    from alttext.images import open_image
    from alttext.index import fingerprint

    def pixel_key() -> None:  # what fingerprint_file did before migration 0006
        image = open_image(path)
        fingerprint.pixel_hash(image)
        image.thumbnail((fingerprint.THUMBNAIL_SIDE, fingerprint.THUMBNAIL_SIDE), Image.Resampling.BICUBIC)

    run = {
        "pixel-key": pixel_key,
        "content-key": lambda: fingerprint.fingerprint_file(path),
        "known": lambda: fingerprint.fingerprint_file(path, is_known=lambda key: True),
    }[variant]
    start_rss = _reset_peak_rss()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return {"ms": min(times) * 1000, "peak_rss_mb": (_peak_rss_kb() - start_rss) / 1024}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> int:
    """Reset the peak RSS to the current RSS (Linux: clear_refs 5), so imports don't hide the decode's
    peak; returns the current RSS in kB. Falls back to ru_maxrss where that can't be done."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return _status_kb("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_rss_kb() -> int:
    try:
        return _status_kb("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], args.repeats)))
        return
    sizes = ["2MP"] if args.quick else ["12MP", "24MP"]
    repeats = 2 if args.quick else args.repeats
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for label in sizes:
            path = Path(folder) / f"{label}.jpg"
            make_photo(path, SIZES[label])
            results[label] = {}
            for variant in VARIANTS:
                output = subprocess.run(
                    [sys.executable, __file__, "--repeats", str(repeats), "--child", variant, str(path)],
                    check=True, capture_output=True, text=True,
                ).stdout
                results[label][variant] = json.loads(output.strip().splitlines()[-1])
    print(f"{'photo':6} {'variant':12} {'ms/photo':>9} {'peak RSS MB':>12} {'speed-up':>9}")
    for label, by_variant in results.items():
        baseline = by_variant["pixel-key"]["ms"]
        for variant, figures in by_variant.items():
            print(f"{label:6} {variant:12} {figures['ms']:9.1f} {figures['peak_rss_mb']:12.1f} "
                  f"{baseline / figures['ms']:8.1f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
