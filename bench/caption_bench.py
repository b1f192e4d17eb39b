"""Captioning throughput: the model card's naive per-image pipeline vs alttext's engine, in one run.

    python bench/caption_bench.py                       # full-size vit-gpt2, 32 images, ~5 min on 2 cores
    python bench/caption_bench.py --quick               # 4 images: a smoke run
    python bench/caption_bench.py --arch tiny --quick   # tiny random model (what the test runs)

The full-size ``nlpconnect/vit-gpt2-image-captioning`` architecture (ViT-base/16 at 224 px, GPT-2 124M with
cross-attention, vocabulary 50257) is built from configs with seeded random weights and saved once with
``save_pretrained``; every variant then loads it from that folder, the way a user would. Its generation
config has no end-of-text token, so every beam generates exactly ``--new-tokens`` (16) tokens: random
weights cannot stop early, and every variant does the real model's work at its longest. The tokenizer is
a word-level one with the same vocabulary size whose tokens are ``w<id>``.

Variants, each in its own subprocess (so peak RSS is per variant), all on the same image files:

- ``naive``: the model card's ``predict_step``, one image per call: ``Image.open`` + ``convert("RGB")``,
  ``ViTImageProcessor``, ``model.generate(pixel_values, num_beams=4, max_new_tokens=16)``,
  ``tokenizer.batch_decode``.
- ``fp32``: ``Captioner.caption_stream`` (alttext's decoder ``open_image`` in its prefetch threads,
  batched ``generate`` with the shared cross-attention state of ``fast_beam``), same settings.
- ``int8``: the same with ``quantize="int8"``.

Each variant runs one warm-up image first (not timed; loading is reported separately). With ``--rounds N`` the
variants run N times, alternating, and the medians are reported (ratios on a busy machine). Peak RSS is the
subprocess's ``ru_maxrss`` (model loading included). The last two lines are ``speedup_int8: <ratio>`` and
``speedup: <ratio>`` (images/s of alttext int8 resp. fp32 over naive).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

VARIANTS = ("naive", "fp32", "int8")
DEFAULT_IMAGES = 32
QUICK_IMAGES = 4
SEED = 0

# nlpconnect/vit-gpt2-image-captioning: ViT-base/16 224 px encoder, GPT-2 (124M) decoder with cross-attention.
ARCHS: dict[str, dict[str, Any]] = {
    "full": {
        "image_size": 224, "patch_size": 16, "enc_hidden": 768, "enc_layers": 12, "enc_heads": 12,
        "enc_intermediate": 3072, "vocab": 50257, "dec_hidden": 768, "dec_layers": 12, "dec_heads": 12,
        "n_positions": 1024,
    },
    # A few-MB stand-in for tests: same classes and code paths, nothing else in common.
    "tiny": {
        "image_size": 32, "patch_size": 8, "enc_hidden": 32, "enc_layers": 1, "enc_heads": 2,
        "enc_intermediate": 64, "vocab": 1000, "dec_hidden": 32, "dec_layers": 2, "dec_heads": 2,
        "n_positions": 64,
    },
}


# -- the model -----------------------------------------------------------------------------------------
def build_model(folder: Path, arch: str, new_tokens: int, beams: int, seed: int = SEED) -> None:
    """Save a seeded random-weight vit-gpt2 of the given size (model, processor, tokenizer) to ``folder``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        GPT2Config,
        PreTrainedTokenizerFast,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    a = ARCHS[arch]
    torch.manual_seed(seed)
    eos = a["vocab"] - 1  # GPT-2's <|endoftext|> is its last id, and is also its BOS/start/pad token
    encoder = ViTConfig(
        image_size=a["image_size"], patch_size=a["patch_size"], hidden_size=a["enc_hidden"],
        num_hidden_layers=a["enc_layers"], num_attention_heads=a["enc_heads"],
        intermediate_size=a["enc_intermediate"],
    )
    decoder = GPT2Config(
        vocab_size=a["vocab"], n_embd=a["dec_hidden"], n_layer=a["dec_layers"], n_head=a["dec_heads"],
        n_positions=a["n_positions"], bos_token_id=eos, eos_token_id=eos,
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = config.pad_token_id = config.eos_token_id = eos
    model = VisionEncoderDecoderModel(config=config)
    generation = model.generation_config
    generation.decoder_start_token_id = generation.bos_token_id = generation.pad_token_id = eos
    # A fixed output length: no end-of-text token, so every beam runs exactly `new_tokens` steps (random
    # weights would otherwise stop at random places). Unlike min_new_tokens this adds no logits processor
    # that the real model doesn't run, so each step costs what the real model's does.
    generation.eos_token_id = None
    generation.num_beams = beams
    generation.max_new_tokens = new_tokens
    model.save_pretrained(folder)
    ViTImageProcessor(
        size={"height": a["image_size"], "width": a["image_size"]}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    ).save_pretrained(folder)
    vocab = {f"w{i}": i for i in range(eos)}
    vocab["<|endoftext|>"] = eos
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|endoftext|>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    special = "<|endoftext|>"
    PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=special, eos_token=special, pad_token=special, unk_token=special
    ).save_pretrained(folder)
    (folder / "bench_arch.json").write_text(
        json.dumps({"arch": arch, "new_tokens": new_tokens, "beams": beams, "seed": seed}) + "\n"
    )


# -- the images ----------------------------------------------------------------------------------------
PHOTOS = (
    "astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina",
    "camera", "coins", "moon", "brick", "grass",
)


def _photos() -> list[Any]:
    """scikit-image's bundled sample photos that load without a download, as RGB PIL images."""
    from PIL import Image

    try:
        import numpy as np
        import skimage.data
    except ImportError:
        return []
    photos = []
    for name in PHOTOS:
        try:
            array = getattr(skimage.data, name)()
        except Exception:  # a photo that needs a download (pooch) or is missing
            continue
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        photos.append(Image.fromarray(array[..., :3].astype("uint8")).convert("RGB"))
    return photos


def _synthetic(index: int, rng: Any) -> Any:
    """A seeded drawing: gradient sky and ground with shapes, stripes, or blurred noise."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    width, height = int(rng.integers(320, 1280)), int(rng.integers(240, 960))
    kind = index % 3
    if kind == 0:
        top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        ramp = np.linspace(0.0, 1.0, height)[:, None, None]
        pixels = (top * (1 - ramp) + bottom * ramp).astype("uint8")
        image = Image.fromarray(np.broadcast_to(pixels, (height, width, 3)).copy())
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(2, 7))):
            x0, y0 = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
            x1, y1 = x0 + int(rng.integers(20, width // 2)), y0 + int(rng.integers(20, height // 2))
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=fill)
        return image
    if kind == 1:
        period = int(rng.integers(8, 64))
        xs = (np.arange(width)[None, :] + np.arange(height)[:, None]) // period % 2
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        return Image.fromarray(np.where(xs[..., None] == 1, a, b).astype("uint8"))
    noise = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3)).astype("uint8")
    return Image.fromarray(noise).resize((width, height), Image.BICUBIC).filter(ImageFilter.GaussianBlur(2))


def make_images(folder: Path, count: int, seed: int = SEED) -> list[Path]:
    """``count`` RGB image files: sample photos (whole, cropped, resized, mirrored) and synthetic drawings.

    Photos are JPEG (quality 90), drawings PNG; no alpha and no EXIF orientation, so alttext's decoder and
    the model card's ``Image.open(...).convert("RGB")`` see the same pixels.
    """
    import numpy as np
    from PIL import Image, ImageOps

    rng = np.random.default_rng(seed)
    photos = _photos()
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    per_round = len(photos) + 4
    for index in range(count):
        round_, slot = divmod(index, per_round)
        if slot < len(photos):
            image = photos[slot]
            if round_ % 3 == 1:  # a centre crop, resized to a phone-ish 800 px on the long side
                w, h = image.size
                image = image.crop((w // 6, h // 6, w - w // 6, h - h // 6))
                scale = 800 / max(image.size)
                image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
            elif round_ % 3 == 2:  # mirrored and downscaled
                image = ImageOps.mirror(image)
                image = image.resize((max(64, image.width // 2), max(64, image.height // 2)), Image.BICUBIC)
            path = folder / f"{index:03d}-photo.jpg"
            image.save(path, quality=90)
        else:
            path = folder / f"{index:03d}-drawing.png"
            _synthetic(index, rng).save(path)
        paths.append(path)
    return paths


# -- one variant (in a subprocess) -----------------------------------------------------------------------
def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_naive(model_dir: Path, paths: list[Path], beams: int, new_tokens: int, threads: int) -> dict[str, Any]:
    """The model card's ``predict_step``, called with one image at a time."""
    import torch

    torch.set_num_threads(threads)
    import transformers
    from PIL import Image
    from transformers import AutoTokenizer, VisionEncoderDecoderModel, ViTImageProcessor

    transformers.logging.set_verbosity_error()
    started = time.perf_counter()
    model = VisionEncoderDecoderModel.from_pretrained(model_dir)
    feature_extractor = ViTImageProcessor.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    device = torch.device("cpu")
    model.to(device)
    load_s = time.perf_counter() - started
    gen_kwargs = {"num_beams": beams, "max_new_tokens": new_tokens}

    def predict_step(image_paths: list[Path]) -> list[str]:
        images = []
        for image_path in image_paths:
            i_image = Image.open(image_path)
            if i_image.mode != "RGB":
                i_image = i_image.convert(mode="RGB")
            images.append(i_image)
        pixel_values = feature_extractor(images=images, return_tensors="pt").pixel_values
        pixel_values = pixel_values.to(device)
        output_ids = model.generate(pixel_values, **gen_kwargs)
        preds = tokenizer.batch_decode(output_ids, skip_special_tokens=True)
        return [pred.strip() for pred in preds]

    predict_step(paths[:1])  # warm-up
    captions: list[str] = []
    wall, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        captions.extend(predict_step([path]))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"captions": captions, "wall_s": wall, "cpu_s": cpu, "load_s": load_s, "batch_size": 1}


def run_alttext(
    model_dir: Path, paths: list[Path], beams: int, new_tokens: int, threads: int, batch_size: int | None,
    quantize: str,
) -> dict[str, Any]:
    """alttext's own path: ``Captioner.caption_stream`` with its prefetching decoder threads."""
    from alttext.captioning import Captioner
    from alttext.images import open_image

    started = time.perf_counter()
    captioner = Captioner(
        str(model_dir), device="cpu", beams=beams, max_new_tokens=new_tokens, batch_size=batch_size,
        quantize=quantize, threads=threads,
    )
    load_s = time.perf_counter() - started
    captioner.caption_images([open_image(paths[0])])  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    outcomes = list(captioner.caption_stream(paths, open_image))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    errors = [outcome.error for outcome in outcomes if not outcome.ok and outcome.raw_caption is None]
    if errors:
        raise RuntimeError(f"captioning failed: {errors[0]}")
    return {
        "captions": [outcome.raw_caption or "" for outcome in outcomes],
        "wall_s": wall,
        "cpu_s": cpu,
        "load_s": load_s,
        "batch_size": captioner.batch_size,
        "generation_params": captioner.generation_params,
    }


def worker(args: argparse.Namespace) -> int:
    if args.worker == "build":
        build_model(Path(args.model_dir), args.arch, args.new_tokens, args.beams)
        return 0
    paths = sorted(Path(args.image_dir).iterdir())
    if args.worker == "naive":
        result = run_naive(Path(args.model_dir), paths, args.beams, args.new_tokens, args.threads)
    else:
        quantize = "int8" if args.worker == "int8" else "none"
        result = run_alttext(
            Path(args.model_dir), paths, args.beams, args.new_tokens, args.threads, args.batch_size, quantize
        )
    import torch

    result.update(variant=args.worker, images=len(paths), peak_rss_mib=_peak_rss_mib(), threads=torch.get_num_threads())
    Path(args.result).write_text(json.dumps(result))
    return 0


# -- the driver ----------------------------------------------------------------------------------------
def _cpu_busy_seconds() -> float | None:
    """Busy CPU seconds of the whole machine so far (all cores, /proc/stat), or None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(value) for value in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _subprocess(args: argparse.Namespace, role: str, model_dir: Path, image_dir: Path, result: Path) -> float | None:
    """Run one role; returns the share of the machine's CPU time other processes used meanwhile (0-1)."""
    command = [
        sys.executable, str(Path(__file__).resolve()), "--worker", role, "--model-dir", str(model_dir),
        "--image-dir", str(image_dir), "--result", str(result), "--arch", args.arch, "--beams", str(args.beams),
        "--new-tokens", str(args.new_tokens), "--threads", str(args.threads), *batch_size_flag(args.batch_size),
    ]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="false")
    busy, ours, wall = _cpu_busy_seconds(), _children_cpu_seconds(), time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr[-4000:])
        raise SystemExit(f"{role} run failed (exit {completed.returncode})")
    busy_after = _cpu_busy_seconds()
    if busy is None or busy_after is None:
        return None
    others = (busy_after - busy) - (_children_cpu_seconds() - ours)
    return max(0.0, others / ((time.perf_counter() - wall) * (os.cpu_count() or 1)))


def _model_ready(model_dir: Path, arch: str, new_tokens: int, beams: int) -> bool:
    marker = model_dir / "bench_arch.json"
    if not marker.is_file():
        return False
    saved = json.loads(marker.read_text())
    return saved == {"arch": arch, "new_tokens": new_tokens, "beams": beams, "seed": SEED}


def drive(args: argparse.Namespace) -> dict[str, Any]:
    count = args.images or (QUICK_IMAGES if args.quick else DEFAULT_IMAGES)
    scratch = Path(tempfile.mkdtemp(prefix="alttext-bench-"))
    try:
        model_dir = Path(args.model_dir) if args.model_dir else scratch / "model"
        if not _model_ready(model_dir, args.arch, args.new_tokens, args.beams):
            print(f"building the {args.arch} vit-gpt2 with random weights in {model_dir} ...", flush=True)
            model_dir.mkdir(parents=True, exist_ok=True)
            _subprocess(args, "build", model_dir, scratch, scratch / "build.json")
        image_dir = scratch / "images"
        make_images(image_dir, count)
        runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in args.variants}
        # Variants alternate round by round, so a burst of load elsewhere hits them all alike.
        for round_ in range(args.rounds):
            for variant in args.variants:
                label = f" (round {round_ + 1}/{args.rounds})" if args.rounds > 1 else ""
                print(f"running {variant} on {count} images{label} ...", flush=True)
                result_path = scratch / f"{variant}-{round_}.json"
                others = _subprocess(args, variant, model_dir, image_dir, result_path)
                run = json.loads(result_path.read_text())
                run["cpu_used_elsewhere"] = others
                runs[variant].append(run)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    results = {variant: _median_run(variant_runs) for variant, variant_runs in runs.items()}

    reference = results.get("naive", {}).get("captions")
    for result in results.values():
        result["s_per_image"] = result["wall_s"] / result["images"]
        result["images_per_s"] = result["images"] / result["wall_s"]
        result["cpu_s_per_image"] = result["cpu_s"] / result["images"]
        if reference is not None:
            result["same_as_naive"] = sum(
                " ".join(a.split()) == " ".join(b.split()) for a, b in zip(result["captions"], reference, strict=True)
            )
    summary: dict[str, Any] = {
        "arch": args.arch,
        "images": count,
        "beams": args.beams,
        "new_tokens": args.new_tokens,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "results": results,
    }
    if "naive" in results:
        for variant, key in (("int8", "speedup_int8"), ("fp32", "speedup")):
            if variant in results:
                summary[key] = results[variant]["images_per_s"] / results["naive"]["images_per_s"]
                if args.rounds > 1:  # the same ratio round by round: how much the noise moves it
                    summary[f"{key}_per_round"] = [
                        naive["wall_s"] / run["wall_s"] for naive, run in zip(runs["naive"], runs[variant], strict=True)
                    ]
    return summary


def _median_run(variant_runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One variant's figures over its rounds: the median wall and CPU time, the highest peak RSS and load
    elsewhere, the first round's captions (the runs are deterministic)."""
    import statistics

    result = dict(variant_runs[0])
    result["wall_s"] = statistics.median(run["wall_s"] for run in variant_runs)
    result["cpu_s"] = statistics.median(run["cpu_s"] for run in variant_runs)
    result["peak_rss_mib"] = max(run["peak_rss_mib"] for run in variant_runs)
    elsewhere = [run["cpu_used_elsewhere"] for run in variant_runs if run["cpu_used_elsewhere"] is not None]
    result["cpu_used_elsewhere"] = max(elsewhere) if elsewhere else None
    result["rounds"] = len(variant_runs)
    result["wall_s_per_round"] = [run["wall_s"] for run in variant_runs]
    return result


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def report(summary: dict[str, Any]) -> str:
    rounds = f", median of {summary['rounds']} alternated rounds" if summary.get("rounds", 1) > 1 else ""
    lines = [
        f"{summary['arch']} vit-gpt2, random weights, {summary['images']} images, beams {summary['beams']},"
        f" {summary['new_tokens']} new tokens, {summary['threads']} threads{rounds}",
        f"{'variant':<8} {'batch':>5} {'s/image':>8} {'images/s':>9} {'cpu s/img':>9} {'peak RSS':>10}"
        f" {'load s':>7} {'= naive':>8} {'busy elsewhere':>14}",
    ]
    for variant, result in summary["results"].items():
        same = f"{result['same_as_naive']}/{result['images']}" if "same_as_naive" in result else "-"
        lines.append(
            f"{variant:<8} {result['batch_size']:>5} {result['s_per_image']:>8.3f} {result['images_per_s']:>9.3f}"
            f" {result['cpu_s_per_image']:>9.3f} {result['peak_rss_mib']:>7.0f} MiB {result['load_s']:>7.1f}"
            f" {same:>8} {_percent(result.get('cpu_used_elsewhere')):>14}"
        )
    busiest = max((r.get("cpu_used_elsewhere") or 0.0 for r in summary["results"].values()), default=0.0)
    if busiest > 0.05:
        lines.append(f"warning: other processes used up to {busiest:.0%} of the CPU during this run; the figures"
                     " are unreliable (small per-image ops suffer most, so the naive run and the ratios too)")
    if summary["arch"] == "full":
        lines.append("(= naive: captions equal to the naive run's; random weights make near-ties, so this is a"
                     " sanity check only; bench/caption_equivalence.py checks a trained model)")
    for key in ("speedup_int8", "speedup"):
        if f"{key}_per_round" in summary:
            per_round = ", ".join(f"{ratio:.2f}" for ratio in summary[f"{key}_per_round"])
            lines.append(f"({key} round by round: {per_round})")
    if "speedup_int8" in summary:
        lines.append(f"speedup_int8: {summary['speedup_int8']:.2f}")
    if "speedup" in summary:
        lines.append(f"speedup: {summary['speedup']:.2f}")
    return "\n".join(lines)


def batch_size_flag(batch_size: int | None) -> list[str]:
    """``--batch-size N`` for a worker subprocess, or nothing: alttext's own choice for the model."""
    return [] if batch_size is None else ["--batch-size", str(batch_size)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--images", type=int, help=f"number of images (default {DEFAULT_IMAGES}, --quick {QUICK_IMAGES})"
    )
    parser.add_argument(
        "--batch-size", type=int, help="alttext batch size (default: alttext's for the model: 32 for vit-gpt2 on CPU)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads in every variant")
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=16, help="fixed number of generated tokens")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the variants this many times, alternating, and report medians (a noisy machine)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_IMAGES} images: a smoke run")
    parser.add_argument("--arch", choices=sorted(ARCHS), default="full", help="full: vit-gpt2 size; tiny: for tests")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of naive,fp32,int8")
    parser.add_argument("--model-dir", help="keep the built random model here and reuse it next time")
    parser.add_argument("--json", dest="json_path", help="also write the figures (and captions) to this file")
    parser.add_argument("--worker", choices=("build", *VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--image-dir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(args.variants) - set(VARIANTS)
    if unknown or not args.variants:
        parser.error(f"--variants: choose from {', '.join(VARIANTS)}")
    too_small = [value for value in (args.batch_size, args.images) if value is not None and value < 1]
    if too_small or args.threads < 1 or args.rounds < 1:
        parser.error("--images, --batch-size, --threads and --rounds must be at least 1")
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
