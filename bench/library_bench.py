"""End to end on camera-size photos: ``scan`` of a library against the model alone, in one run.

    python bench/library_bench.py                         # full-size vit-gpt2, 32 photos at 12 and 24 MP
    python bench/library_bench.py --photos 64 --megapixels 12
    python bench/library_bench.py --model PATH            # a real local model instead of random weights
    python bench/library_bench.py --arch tiny --quick     # tiny random model, small photos (what the test runs)
    python bench/library_bench.py --quantize int8 --megapixels 12 --decode-threads 1,2,3   # the setting's effect

The library is made in a temp folder from scikit-image's bundled photos (astronaut, chelsea, coffee, ...),
fitted to 4:3 camera sizes and given pixel noise so they compress like real photos (~3 MB per 12 MP JPEG):
JPEGs with EXIF (Make, Model, DateTimeOriginal, Orientation), baseline and progressive, and every eighth
photo a HEIC (at most 12 MP, as phones write them), every eighth (offset by four) a PNG. Every photo has
its own noise, so none is a duplicate.

The model (unless ``--model``) is the full-size ``nlpconnect/vit-gpt2-image-captioning`` architecture with
seeded random weights (bench/caption_bench.py's ``build_model``), at the model card's settings: 4 beams,
16 new tokens (random weights never stop early). For each ``--quantize`` variant (default none and int8),
each phase runs in a fresh subprocess:

- ``caption``: the model alone: photos decoded beforehand (as ``alttext caption`` decodes them, at draft
  scale), then ``Captioner.caption_images`` (preprocess + generate, in batches) timed after loading and a
  warm-up batch.
- ``scan``: ``alttext.Library(index).scan([library])`` into a fresh index, timed from the subprocess's
  start (Python start-up, imports and model loading included), once per ``--megapixels`` size.

Reported for each scan, from the times at which its batches were stored (the scan's progress callback):

- ``start-up``: seconds from the subprocess's start until the first batch was stored, less one batch at the
  steady pace: Python, imports, the model's loading, the listing;
- ``steady`` images/s: photos stored after the first batch over the time they took (decode, identity,
  model, writes, all in flight together: what a long scan runs at);
- ``after``: seconds after the last batch (the vectors for search by meaning, closing the index);
- ``ratio`` = steady images/s / caption-only images/s (target >= 0.85); ``10k``: the same for a projected
  10,000-photo scan, start-up included; and ``whole`` = photos / the subprocess's wall time, start-up
  included, / caption-only images/s (depends on how many photos there are);
- s/photo and hours projected for 10,000 photos: the whole run, plus the remaining photos at the steady
  pace (``after`` counts once: it is mostly the sentence encoder's loading);
- each subprocess's peak RSS (``ru_maxrss``): the target is that a photo's megapixels don't show in it
  (12 MP and 24 MP scans about equal).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

SEED = 0
DEFAULT_PHOTOS = 32  # three batches of 8 after the first: the steady pace
QUICK_PHOTOS = 4
PROJECTED_PHOTOS = 10_000
BASE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "retina")
NOISE = 12  # +-12 levels of uniform noise: ~3 MB per 12 MP JPEG at quality 90, like a camera's
HEIC_MAX_MEGAPIXELS = 12
CAMERAS = (("Canon", "Canon EOS R6"), ("NIKON CORPORATION", "NIKON Z 6_2"), ("Apple", "iPhone 14 Pro"))


def _caption_bench() -> ModuleType:
    """bench/caption_bench.py, for its random-weight vit-gpt2 builder (one place builds the model)."""
    spec = importlib.util.spec_from_file_location("bench_caption_bench", Path(__file__).with_name("caption_bench.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# -- the library ---------------------------------------------------------------------------------------
def _base_photos() -> list[Any]:
    import numpy as np
    import skimage.data
    from PIL import Image

    photos = []
    for name in BASE_PHOTOS:
        try:
            array = getattr(skimage.data, name)()
        except Exception:  # a photo that needs a download (pooch) or is missing
            continue
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        photos.append(Image.fromarray(array[..., :3].astype("uint8")).convert("RGB"))
    if not photos:
        raise SystemExit("scikit-image's bundled photos are missing")
    return photos


def camera_size(megapixels: float) -> tuple[int, int]:
    """A 4:3 landscape size of about ``megapixels`` (12 -> 4000x3000, 24 -> 5664x4248), sides multiples of 16."""
    width = max(16, round(math.sqrt(megapixels * 1e6 * 4 / 3) / 16) * 16)
    return width, width * 3 // 4


def _exif(index: int) -> Any:
    from PIL import Image

    exif = Image.Exif()
    make, model = CAMERAS[index % len(CAMERAS)]
    exif[0x010F], exif[0x0110] = make, model
    exif[0x0112] = 6 if index % 5 == 3 else 1  # some shot in portrait: "rotate 90 CW to display"
    exif.get_ifd(0x8769)[0x9003] = f"2024:{index % 12 + 1:02d}:{index % 28 + 1:02d} 10:{index % 60:02d}:00"
    return exif


def make_library(folder: Path, count: int, megapixels: float, seed: int = SEED) -> list[Path]:
    """``count`` camera-like photos of ``megapixels`` in ``folder``; the same files for the same arguments."""
    import numpy as np
    import pillow_heif
    from PIL import Image, ImageOps

    pillow_heif.register_heif_opener()
    rng = np.random.default_rng(seed)
    bases = _base_photos()
    size = camera_size(megapixels)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for index in range(count):
        base = bases[index % len(bases)]
        if index // len(bases) % 2:
            base = ImageOps.mirror(base)
        pixels = np.asarray(ImageOps.fit(base, size, Image.Resampling.BICUBIC), dtype=np.int16)
        pixels = pixels + rng.integers(-NOISE, NOISE + 1, pixels.shape, dtype=np.int16)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        exif = _exif(index)
        if index % 8 == 7:
            # Phone HEICs are 12 MP; pillow-heif cannot read back the 24 MP HEIC it writes (libheif error).
            if megapixels > HEIC_MAX_MEGAPIXELS:
                image = image.resize(camera_size(HEIC_MAX_MEGAPIXELS), Image.Resampling.BICUBIC)
            path = folder / f"IMG_{index:04d}.heic"
            image.save(path, format="HEIF", quality=80, exif=exif.tobytes())
        elif index % 8 == 3:
            path = folder / f"IMG_{index:04d}.png"
            image.save(path, compress_level=1, exif=exif)
        else:
            path = folder / f"IMG_{index:04d}.jpg"
            image.save(path, quality=90, progressive=bool(index % 2), exif=exif)
        paths.append(path)
    return paths


# -- one phase (in a subprocess) -----------------------------------------------------------------------
def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {"model": args.model, "beams": args.beams, "max_tokens": args.new_tokens, "quantize": args.quantize_one,
            "batch_size": args.batch_size, "threads": args.threads, "device": "cpu",
            "decode_threads": args.decode_threads_one}


def run_caption(args: argparse.Namespace, paths: list[Path]) -> dict[str, Any]:
    """The model alone: photos decoded first (at alttext caption's draft scale), then preprocess + generate."""
    from alttext.captioning.factory import build_captioner
    from alttext.config import load_settings
    from alttext.images import open_image
    from alttext.library.core import _draft_size

    started = time.perf_counter()
    settings = load_settings().replace(**_settings(args))
    captioner = build_captioner(settings)
    load_s = time.perf_counter() - started
    draft = _draft_size(captioner)
    images = [open_image(path, max_pixels=settings.max_image_pixels, draft_size=draft) for path in paths]
    # Warm-up on a whole batch: the first call at a batch's shapes builds oneDNN's kernels for them (seconds),
    # which the scan's steady pace, measured after its first batch, doesn't pay either.
    captioner.caption_images(images[: captioner.batch_size])
    wall = time.perf_counter()
    captions = captioner.caption_images(images)
    wall = time.perf_counter() - wall
    return {"wall_s": wall, "load_s": load_s, "captioned": len(captions), "batch_size": captioner.batch_size,
            "generation_params": captioner.generation_params}


def run_scan(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """``Library(index).scan([folder])`` into a fresh index; the driver times the whole subprocess, this
    records when each photo was stored (``stored``: wall-clock times, for the driver's steady rate)."""
    import alttext

    stored: list[float] = []

    def progress(label: str, _total: int | None) -> Any:
        if label != "captioning":
            return lambda _count: None
        return lambda count: stored.extend([time.time()] * count)

    with alttext.Library(Path(args.result).with_suffix(".sqlite3"), **_settings(args)) as library:
        result = library.scan([str(folder)], import_metadata=False, progress=progress)
    summary = result.summary
    return {"captioned": summary.captioned, "failed": summary.failed, "model_calls": summary.model_calls,
            "errors": summary.errors[:3], "stored": stored}


def scan_figures(started: float, ended: float, stored: list[float], count: int, caption_rate: float,
                 batch_size: int) -> dict[str, Any]:
    """What a scan subprocess's times say (see the module's docstring); times are wall-clock seconds."""
    wall = ended - started
    first = stored[min(batch_size, len(stored)) - 1] if stored else ended
    after_first = [t for t in stored if t > first]
    # One stored batch at a time, so the steady pace is the photos after the first batch over their time.
    steady = len(after_first) / (after_first[-1] - first) if after_first and after_first[-1] > first else count / wall
    last = stored[-1] if stored else ended
    after = max(0.0, ended - last)
    startup = max(0.0, first - started - min(batch_size, count) / steady)
    # ``after`` is mostly loading the sentence encoder (a vector costs milliseconds), so it counts once.
    projected = wall + max(0, PROJECTED_PHOTOS - count) / steady
    return {
        "wall_s": wall, "images_per_s": count / wall, "startup_s": startup, "steady_images_per_s": steady,
        "after_s": after, "ratio": steady / caption_rate, "whole_ratio": count / wall / caption_rate,
        "s_per_photo": projected / PROJECTED_PHOTOS, "projected_hours_10k": projected / 3600,
        # a 10,000-photo scan, start-up included, against the model alone on as many photos
        "projected_ratio": PROJECTED_PHOTOS / caption_rate / projected,
    }


def worker(args: argparse.Namespace) -> int:
    if args.worker == "build":
        _caption_bench().build_model(Path(args.model), args.arch, args.new_tokens, args.beams)
        return 0
    folder = Path(args.library)
    result = run_caption(args, sorted(folder.iterdir())) if args.worker == "caption" else run_scan(args, folder)
    result["peak_rss_mib"] = _peak_rss_mib()
    Path(args.result).write_text(json.dumps(result))
    return 0


# -- the driver ----------------------------------------------------------------------------------------
def _subprocess(args: argparse.Namespace, role: str, library: Path, result: Path, quantize: str,
                decode_threads: int = 2) -> tuple[float, float]:
    """Run one phase in a fresh Python; when it started and ended (wall-clock seconds)."""
    command = [
        sys.executable, str(Path(__file__).resolve()), "--worker", role, "--model", str(args.model),
        "--library", str(library), "--result", str(result), "--arch", args.arch, "--beams", str(args.beams),
        "--new-tokens", str(args.new_tokens), "--threads", str(args.threads),
        *_caption_bench().batch_size_flag(args.batch_size),
        "--quantize-one", quantize, "--decode-threads-one", str(decode_threads),
    ]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    started = time.time()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    ended = time.time()
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr[-4000:])
        raise SystemExit(f"{role} ({quantize}) failed (exit {completed.returncode})")
    return started, ended


def drive(args: argparse.Namespace) -> dict[str, Any]:
    count = args.photos or (QUICK_PHOTOS if args.quick else DEFAULT_PHOTOS)
    scratch = Path(tempfile.mkdtemp(prefix="alttext-library-bench-"))
    try:
        if args.model is None:
            args.model = str(scratch / "model")
            print(f"building the {args.arch} vit-gpt2 with random weights ...", flush=True)
            _subprocess(args, "build", scratch, scratch / "build.json", "none")
        libraries: dict[float, dict[str, Any]] = {}
        for megapixels in args.megapixels:
            folder = scratch / f"library-{megapixels:g}mp"
            paths = make_library(folder, count, megapixels)
            libraries[megapixels] = {"folder": folder, "bytes": sum(p.stat().st_size for p in paths)}
        results: dict[str, dict[str, Any]] = {}
        for quantize in args.quantize:
            first = libraries[args.megapixels[0]]["folder"]
            print(f"{quantize}: caption-only on {count} photos ...", flush=True)
            out = scratch / f"caption-{quantize}.json"
            _subprocess(args, "caption", first, out, quantize)
            caption = json.loads(out.read_text())
            variant: dict[str, Any] = {
                "caption_images_per_s": count / caption["wall_s"], "caption_load_s": caption["load_s"],
                "caption_peak_rss_mib": caption["peak_rss_mib"], "generation_params": caption["generation_params"],
                "batch_size": caption["batch_size"], "scans": {},
            }
            for decode_threads, (megapixels, library) in ((d, item) for d in args.decode_threads
                                                          for item in libraries.items()):
                print(f"{quantize}: scan of {count} photos at {megapixels:g} MP, {decode_threads} decode threads ...",
                      flush=True)
                out = scratch / f"scan-{quantize}-{megapixels:g}-{decode_threads}.json"
                started, ended = _subprocess(args, "scan", library["folder"], out, quantize, decode_threads)
                scan = json.loads(out.read_text())
                if scan["captioned"] != count:
                    raise SystemExit(f"scan captioned {scan['captioned']} of {count} photos: {scan['errors']}")
                name = f"{megapixels:g}" if len(args.decode_threads) == 1 else f"{megapixels:g} d{decode_threads}"
                variant["scans"][name] = {
                    **scan_figures(started, ended, scan["stored"], count, variant["caption_images_per_s"],
                                   variant["batch_size"]),
                    "peak_rss_mib": scan["peak_rss_mib"], "model_calls": scan["model_calls"],
                    "decode_threads": decode_threads,
                }
            results[quantize] = variant
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "photos": count, "megapixels": args.megapixels, "arch": args.arch if args.model_given is None else "local",
        "model": args.model_given or f"{args.arch} vit-gpt2, random weights", "beams": args.beams,
        "new_tokens": args.new_tokens, "threads": args.threads,
        "batch_size": next((result["batch_size"] for result in results.values()), args.batch_size),
        "decode_threads": args.decode_threads,
        "mb_per_photo": {f"{mp:g}": lib["bytes"] / count / 1e6 for mp, lib in libraries.items()},
        "cpus": os.cpu_count(), "load_average": os.getloadavg(), "results": results,
    }


def report(summary: dict[str, Any]) -> str:
    sizes = ", ".join(f"{mp} MP ({mb:.1f} MB/photo)" for mp, mb in summary["mb_per_photo"].items())
    lines = [
        f"{summary['model']}; {summary['photos']} photos at {sizes}; beams {summary['beams']},"
        f" {summary['new_tokens']} new tokens, batch {summary['batch_size']}, {summary['threads']} threads;"
        f" load average at the end {summary['load_average'][0]:.2f} on {summary['cpus']} CPUs",
        f"{'variant':<6} {'phase':<16} {'images/s':>9} {'start-up':>8} {'after':>6} {'s/photo':>8} {'10k photos':>10}"
        f" {'ratio':>6} {'10k':>5} {'whole':>6} {'peak RSS':>10}",
    ]
    for quantize, result in summary["results"].items():
        caption_rate = result["caption_images_per_s"]
        lines.append(f"{quantize:<6} {'caption-only':<16} {caption_rate:>9.3f} {result['caption_load_s']:>7.1f}s"
                     f" {'':>6} {1 / caption_rate:>8.3f} {1 / caption_rate * PROJECTED_PHOTOS / 3600:>9.2f}h"
                     f" {'':>6} {'':>5} {'':>6} {result['caption_peak_rss_mib']:>6.0f} MiB")
        for megapixels, scan in result["scans"].items():
            label = f"scan {megapixels.split()[0]} MP" + (f" d={scan['decode_threads']}" if " " in megapixels else "")
            lines.append(f"{quantize:<6} {label:<16} {scan['steady_images_per_s']:>9.3f}"
                         f" {scan['startup_s']:>7.1f}s {scan['after_s']:>5.1f}s {scan['s_per_photo']:>8.3f}"
                         f" {scan['projected_hours_10k']:>9.2f}h {scan['ratio']:>6.2f} {scan['projected_ratio']:>5.2f}"
                         f" {scan['whole_ratio']:>6.2f}"
                         f" {scan['peak_rss_mib']:>6.0f} MiB")
    lines.append("(scan images/s: the steady pace after its first batch; ratio = that / caption-only images/s,"
                 " target >= 0.85; 10k: the same for a projected 10,000-photo scan, start-up included;"
                 " d=N: decode_threads; whole: with start-up, over these photos only; s/photo and"
                 " 10k photos: start-up included, projected; caption-only start-up: model loading; peak RSS should"
                 " not grow with the photos' megapixels)")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    caption_bench = _caption_bench()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int,
                        help=f"photos per library (default {DEFAULT_PHOTOS}, --quick {QUICK_PHOTOS})")
    parser.add_argument("--megapixels", help="comma-separated library sizes (default 12,24; --quick 0.3,0.6)")
    parser.add_argument("--quantize", default="none,int8", help="comma-separated variants: none (fp32), int8")
    parser.add_argument("--model", help="a local model folder (default: random-weight vit-gpt2 in a temp folder)")
    parser.add_argument("--arch", choices=sorted(caption_bench.ARCHS), default="full",
                        help="size of the random model: full (vit-gpt2) or tiny (tests)")
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, help="images per model call (default: alttext's for the model)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (alttext's threads setting)")
    parser.add_argument("--decode-threads", default="2",
                        help="comma-separated decode_threads settings to scan with (default 2: alttext's default)")
    parser.add_argument("--quick", action="store_true", help="few, small photos: a smoke run")
    parser.add_argument("--json", dest="json_path", help="also write the figures to this file")
    parser.add_argument("--worker", choices=("build", "caption", "scan"), help=argparse.SUPPRESS)
    parser.add_argument("--library", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--quantize-one", default="none", help=argparse.SUPPRESS)
    parser.add_argument("--decode-threads-one", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.model_given = args.model
    args.quantize = [q.strip() for q in args.quantize.split(",") if q.strip()]
    if not args.quantize or set(args.quantize) - {"none", "int8"}:
        parser.error("--quantize: choose from none, int8")
    megapixels = args.megapixels or ("0.3,0.6" if args.quick else "12,24")
    try:
        args.megapixels = [float(value) for value in megapixels.split(",") if value.strip()]
    except ValueError:
        parser.error("--megapixels: numbers, e.g. 12,24")
    if not args.megapixels or min(args.megapixels) <= 0:
        parser.error("--megapixels: positive numbers, e.g. 12,24")
    try:
        args.decode_threads = [int(value) for value in args.decode_threads.split(",") if value.strip()]
    except ValueError:
        parser.error("--decode-threads: whole numbers, e.g. 1,2,3")
    if not args.decode_threads or min(args.decode_threads) < 1:
        parser.error("--decode-threads: at least 1")
    if any(value is not None and value < 1 for value in (args.photos, args.batch_size)) or args.threads < 1:
        parser.error("--photos, --batch-size and --threads must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    summary = drive(args)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(summary, indent=2) + "\n")
    print(report(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
