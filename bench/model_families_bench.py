"""Seconds per image and peak memory of full-size models of each family, through alttext's own captioner.

    python bench/model_families_bench.py                 # 4 full-size models, fp32 and int8, ~10 min on 2 cores
    python bench/model_families_bench.py --models florence-2-base,vit-gpt2 --images 8
    python bench/model_families_bench.py --arch tiny --quick   # tiny stand-ins (what the test runs)

No weights can be downloaded here, so each model is built from a config written out below from its published
size (the source is named beside each), with seeded random weights, and saved once with ``save_pretrained``;
alttext then loads it from that folder as it loads a user's model. The tokenizer is one the bench builds: a
word-level vocabulary of the published size that knows the prompts' words (``w<id>`` fills the rest).

Random weights make garbage text and would stop at random places, so every model generates a fixed number of
new tokens at its family's alt-text setting: the saved generation config has no end-of-text token (nor BART's
forced one), ``max_new_tokens`` = ``ALT_TEXT_TOKENS`` (20: a one-sentence alt text of ~125 characters) for the
prompt-driven families, vit-gpt2's own 16 tokens; beams as the model cards use them (Florence-2 3, vit-gpt2 4,
SmolVLM greedy). Unlike ``min_new_tokens`` this adds no logits processor the real model doesn't run.

Each model runs in fp32 and in int8 (``--quantize int8``: alttext/captioning/quantize.py), each in its own
subprocess (so peak RSS, ``ru_maxrss``, is per variant and includes loading and quantising), one after the
other, on the same image files (scikit-image's photos: bench/caption_bench.py ``make_images``), through
``Captioner.caption_stream`` with alttext's default batch size, after one untimed warm-up image. The machine's
load average is read before and after each model's pair of runs, and the share of CPU time other processes
used meanwhile is measured as in caption_bench.py. With ``--device cuda`` the int8 runs are skipped (dynamic
int8 is CPU-only) and the peak GPU memory is reported too.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import caption_bench  # the images, the vit-gpt2 builder and the CPU accounting are shared

MODELS = ("florence-2-base", "florence-2-large", "smolvlm-256m", "vit-gpt2")
VARIANTS = ("fp32", "int8")
DEFAULT_IMAGES = 4
QUICK_IMAGES = 2
SEED = 0
ALT_TEXT_TOKENS = 20  # prompt-driven families: one sentence of alt text
VIT_GPT2_TOKENS, VIT_GPT2_BEAMS = 16, 4  # nlpconnect/vit-gpt2-image-captioning's generation config / model card

# Published sizes, for the report (parameters, from the model cards).
PUBLISHED_PARAMS = {"florence-2-base": 0.23e9, "florence-2-large": 0.77e9, "smolvlm-256m": 0.256e9,
                    "vit-gpt2": 0.239e9}

# Florence-2 (microsoft/Florence-2-base and -large config.json, as ported to transformers' Florence2Config by
# florence-community/Florence-2-*): DaViT encoder at 768 px (strides 4·2·2·2: a 24×24 grid + 1 pooled token),
# BART-base resp. BART-large text model, vocabulary 51289 (BART's 50265 + location and task tokens).
FLORENCE = {
    "florence-2-base": {
        "vision": {"depths": [1, 1, 9, 1], "embed_dim": [128, 256, 512, 1024], "num_heads": [4, 8, 16, 32],
                   "num_groups": [4, 8, 16, 32], "window_size": 12, "projection_dim": 768},
        "text": {"d_model": 768, "encoder_layers": 6, "decoder_layers": 6, "encoder_attention_heads": 12,
                 "decoder_attention_heads": 12, "encoder_ffn_dim": 3072, "decoder_ffn_dim": 3072},
    },
    "florence-2-large": {
        "vision": {"depths": [1, 1, 9, 1], "embed_dim": [256, 512, 1024, 2048], "num_heads": [8, 16, 32, 64],
                   "num_groups": [8, 16, 32, 64], "window_size": 12, "projection_dim": 1024},
        "text": {"d_model": 1024, "encoder_layers": 12, "decoder_layers": 12, "encoder_attention_heads": 16,
                 "decoder_attention_heads": 16, "encoder_ffn_dim": 4096, "decoder_ffn_dim": 4096},
    },
}
FLORENCE_PATCHES = {"patch_size": [7, 3, 3, 3], "patch_stride": [4, 2, 2, 2], "patch_padding": [3, 1, 1, 1],
                    "patch_prenorm": [False, True, True, True]}
FLORENCE_FULL = {"image_size": 768, "image_seq_length": 577, "vocab": 51289, "max_positions": 1024, "beams": 3}

# SmolVLM-256M-Instruct (HuggingFaceTB/SmolVLM-256M-Instruct: Idefics3 architecture; model card "64 visual
# tokens to encode image patches of size 512×512", default size longest_edge 4·512): SigLIP base-patch16-512
# vision encoder (93M), pixel shuffle ×4, SmolLM2-135M text model, vocabulary 49280, output layer not tied to the
# input embeddings (which is what makes 256M: tied, it would be 228M).
SMOLVLM_FULL = {
    "vision": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
               "image_size": 512, "patch_size": 16},
    "text": {"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
             "num_attention_heads": 9, "num_key_value_heads": 3, "max_position_embeddings": 8192,
             "rope_theta": 100000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": False},
    "vocab": 49280, "scale_factor": 4, "image_seq_len": 64, "longest_edge": 2048, "tile": 512,
}

# Stand-ins a few MB in size for the test: same classes and code paths, nothing else in common.
TINY = {
    "florence": {
        "vision": {"depths": [1, 1], "embed_dim": [16, 32], "num_heads": [2, 2], "num_groups": [2, 2],
                   "window_size": 2, "projection_dim": 32, "patch_size": [7, 3], "patch_stride": [4, 2],
                   "patch_padding": [3, 1], "patch_prenorm": [False, True]},
        "text": {"d_model": 32, "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2,
                 "decoder_attention_heads": 2, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64},
        "image_size": 32, "image_seq_length": 17, "vocab": 400, "max_positions": 300, "beams": 2,
    },
    "smolvlm": {
        "vision": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                   "image_size": 32, "patch_size": 8},
        "text": {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                 "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 512},
        "vocab": 400, "scale_factor": 2, "image_seq_len": 4, "longest_edge": 64, "tile": 32,
    },
}


# -- the models ------------------------------------------------------------------------------------------------
def _tokenizer(vocab_size: int, specials: list[str], texts: list[str], named: dict[str, str] | None = None) -> Any:
    """A word-level tokenizer of ``vocab_size`` that knows ``texts``' words; ``w<id>`` fills the rest."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = list(dict.fromkeys(w for text in texts for w in re.findall(r"\w+|[^\w\s]+", text.lower())))
    tokens = list(dict.fromkeys(["<pad>", "<s>", "</s>", "<unk>", *specials, *words]))
    if len(tokens) > vocab_size:
        raise ValueError(f"vocabulary of {vocab_size} is too small for {len(tokens)} tokens")
    tokens += [f"w{i}" for i in range(len(tokens), vocab_size)]
    backend = Tokenizer(models.WordLevel(vocab={token: i for i, token in enumerate(tokens)}, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.add_special_tokens(specials)  # one token each, never split by the pre-tokenizer
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", extra_special_tokens=named or {})


def _fixed_length(model: Any, tokenizer: Any, new_tokens: int, beams: int) -> None:
    """Exactly ``new_tokens`` new tokens per caption: no end-of-text token for random weights to hit."""
    config = model.generation_config
    config.pad_token_id = tokenizer.pad_token_id
    config.bos_token_id = tokenizer.bos_token_id
    config.eos_token_id = None
    config.forced_eos_token_id = None
    config.num_beams = beams
    config.max_new_tokens = new_tokens
    config.max_length = None


def build_florence(folder: Path, name: str, arch: str, new_tokens: int) -> None:
    from transformers import CLIPImageProcessor, Florence2Config, Florence2ForConditionalGeneration, Florence2Processor

    spec = TINY["florence"] if arch == "tiny" else {**FLORENCE[name], **FLORENCE_FULL}
    vision = spec["vision"] if arch == "tiny" else {**spec["vision"], **FLORENCE_PATCHES}
    florence_questions = ["What does the image describe?", "Describe in detail what is shown in the image."]
    # Florence2Processor finds the image token by the name "image_token".
    tokenizer = _tokenizer(spec["vocab"], ["<image>"], florence_questions, {"image_token": "<image>"})
    config = Florence2Config(
        vision_config=vision,
        text_config={**spec["text"], "vocab_size": spec["vocab"], "max_position_embeddings": spec["max_positions"],
                     "pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
                     "eos_token_id": tokenizer.eos_token_id, "decoder_start_token_id": tokenizer.eos_token_id,
                     "forced_eos_token_id": None},
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
    )
    model = Florence2ForConditionalGeneration(config)
    _fixed_length(model, tokenizer, new_tokens, spec["beams"])
    model.generation_config.decoder_start_token_id = tokenizer.eos_token_id
    model.save_pretrained(folder)
    size = {"height": spec["image_size"], "width": spec["image_size"]}
    image_processor = CLIPImageProcessor(size=size, crop_size=size, do_center_crop=False, resample=3,
                                         image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
                                         image_seq_length=spec["image_seq_length"])
    Florence2Processor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)


# SmolVLM's chat template, shortened: "<|im_start|>User:<image>PROMPT<end_of_utterance>\nAssistant:"
SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}:"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>{% else %}{{ part['text'] }}"
    "{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


def build_smolvlm(folder: Path, arch: str, new_tokens: int) -> None:
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessor, Idefics3Processor

    from alttext.captioning.families.chat_vlm import ALT_TEXT_PROMPT, DESCRIPTION_PROMPT

    spec = TINY["smolvlm"] if arch == "tiny" else SMOLVLM_FULL
    grid = [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]
    specials = ["<|im_start|>", "<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>", *grid]
    tokenizer = _tokenizer(spec["vocab"], specials, [ALT_TEXT_PROMPT, DESCRIPTION_PROMPT, "User Assistant"])
    config = Idefics3Config(
        vision_config=spec["vision"],
        text_config={**spec["text"], "vocab_size": spec["vocab"], "pad_token_id": tokenizer.pad_token_id,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id},
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"), scale_factor=spec["scale_factor"],
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=spec["text"].get("tie_word_embeddings", False),
    )
    model = Idefics3ForConditionalGeneration(config)
    _fixed_length(model, tokenizer, new_tokens, beams=1)
    model.save_pretrained(folder)
    image_processor = Idefics3ImageProcessor(
        do_image_splitting=True, size={"longest_edge": spec["longest_edge"]},
        max_image_size={"longest_edge": spec["tile"]}, resample=1, image_mean=[0.5] * 3, image_std=[0.5] * 3,
    )
    Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=spec["image_seq_len"],
                      chat_template=SMOLVLM_TEMPLATE).save_pretrained(folder)


def build_model(folder: Path, name: str, arch: str) -> dict[str, Any]:
    """Save model ``name`` (random weights, seeded) to ``folder``; what was built, as written to bench_model.json."""
    import torch

    torch.manual_seed(SEED)
    folder.mkdir(parents=True, exist_ok=True)
    if name == "vit-gpt2":
        caption_bench.build_model(folder, arch, new_tokens=VIT_GPT2_TOKENS, beams=VIT_GPT2_BEAMS, seed=SEED)
        new_tokens = VIT_GPT2_TOKENS
    elif name.startswith("florence-2"):
        build_florence(folder, name, arch, new_tokens := ALT_TEXT_TOKENS)
    elif name == "smolvlm-256m":
        build_smolvlm(folder, arch, new_tokens := ALT_TEXT_TOKENS)
    else:
        raise ValueError(f"unknown model {name!r}")
    from safetensors import safe_open

    params = 0  # as saved: tied weights once
    for shard in folder.glob("*.safetensors"):
        with safe_open(str(shard), "pt") as weights:
            keys = list(weights.keys())  # a safetensors handle, not a dict
            params += sum(math.prod(weights.get_slice(key).get_shape()) for key in keys)
    built = {"model": name, "arch": arch, "seed": SEED, "new_tokens": new_tokens, "params": params}
    (folder / "bench_model.json").write_text(json.dumps(built) + "\n")
    return built


# -- one variant (in a subprocess) ------------------------------------------------------------------------------
def run_variant(model_dir: Path, paths: list[Path], quantize: str, device: str, threads: int,
                batch_size: int | None) -> dict[str, Any]:
    from alttext.captioning import Captioner
    from alttext.images import open_image

    started = time.perf_counter()
    captioner = Captioner(str(model_dir), device=device, batch_size=batch_size, quantize=quantize, threads=threads)
    load_s = time.perf_counter() - started
    captioner.caption_images([open_image(paths[0])])  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    outcomes = list(captioner.caption_stream(paths, open_image))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    errors = [outcome.error for outcome in outcomes if outcome.raw_caption is None]
    if errors:
        raise RuntimeError(f"captioning failed: {errors[0]}")
    captions = [outcome.raw_caption or "" for outcome in outcomes]
    result: dict[str, Any] = {
        "family": captioner.family.name, "wall_s": wall, "cpu_s": cpu, "load_s": load_s,
        "batch_size": captioner.batch_size, "generation_params": captioner.generation_params,
        "words_per_caption": sum(len(caption.split()) for caption in captions) / len(captions),
        "captions": captions,
    }
    if device.startswith("cuda"):
        import torch

        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def worker(args: argparse.Namespace) -> int:
    model_dir = Path(args.model_dir)
    if args.worker == "build":
        build_model(model_dir, args.model, args.arch)
        return 0
    paths = sorted(Path(args.image_dir).iterdir())
    quantize = "int8" if args.worker == "int8" else "none"
    result = run_variant(model_dir, paths, quantize, args.device, args.threads, args.batch_size)
    import torch

    result.update(variant=args.worker, images=len(paths), peak_rss_mib=caption_bench._peak_rss_mib(),
                  threads=torch.get_num_threads())
    Path(args.result).write_text(json.dumps(result))
    return 0


# -- the driver -------------------------------------------------------------------------------------------------
def _subprocess(args: argparse.Namespace, role: str, model: str, model_dir: Path, image_dir: Path,
                result: Path) -> float | None:
    """Run one role; the share of the machine's CPU time other processes used meanwhile (0-1)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", role, "--models", model,
               "--model-dir", str(model_dir), "--image-dir", str(image_dir), "--result", str(result),
               "--arch", args.arch, "--threads", str(args.threads), *caption_bench.batch_size_flag(args.batch_size),
               "--device", args.device]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="false")
    busy, ours, wall = caption_bench._cpu_busy_seconds(), caption_bench._children_cpu_seconds(), time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr[-4000:])
        raise SystemExit(f"{model} {role} failed (exit {completed.returncode})")
    busy_after = caption_bench._cpu_busy_seconds()
    if busy is None or busy_after is None:
        return None
    others = (busy_after - busy) - (caption_bench._children_cpu_seconds() - ours)
    return max(0.0, others / ((time.perf_counter() - wall) * (os.cpu_count() or 1)))


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def _model_ready(model_dir: Path, name: str, arch: str) -> dict[str, Any] | None:
    marker = model_dir / "bench_model.json"
    if not marker.is_file():
        return None
    built: dict[str, Any] = json.loads(marker.read_text())
    return built if (built.get("model"), built.get("arch"), built.get("seed")) == (name, arch, SEED) else None


def drive(args: argparse.Namespace) -> dict[str, Any]:
    count = args.images or (QUICK_IMAGES if args.quick else DEFAULT_IMAGES)
    variants = [v for v in args.variants if v == "fp32" or args.device == "cpu"]  # int8 is CPU-only
    scratch = Path(tempfile.mkdtemp(prefix="alttext-families-"))
    summary: dict[str, Any] = {
        "arch": args.arch, "images": count, "threads": args.threads,
        "batch_size": args.batch_size if args.batch_size is not None else "each model's own",
        "device": args.device, "machine": {"cpus": os.cpu_count(), "processor": platform.processor()
                                           or platform.machine()},
        "uptime_start": _uptime(), "models": {},
    }
    try:
        image_dir = scratch / "images"
        caption_bench.make_images(image_dir, count)
        for name in args.models:
            model_dir = (Path(args.model_dir) / name) if args.model_dir else scratch / name
            built = _model_ready(model_dir, name, args.arch)
            if built is None:
                print(f"building {args.arch} {name} with random weights in {model_dir} ...", flush=True)
                _subprocess(args, "build", name, model_dir, image_dir, scratch / "build.json")
                built = _model_ready(model_dir, name, args.arch)
                assert built is not None
            entry: dict[str, Any] = {**built, "load_before": os.getloadavg()[0], "results": {}}
            for variant in variants:  # adjacent: the same load for both
                print(f"running {name} {variant} on {count} images ...", flush=True)
                others = _subprocess(args, variant, name, model_dir, image_dir, scratch / f"{variant}.json")
                result = json.loads((scratch / f"{variant}.json").read_text())
                result["cpu_used_elsewhere"] = others
                result["s_per_image"] = result["wall_s"] / result["images"]
                result["cpu_s_per_image"] = result["cpu_s"] / result["images"]
                entry["results"][variant] = result
            entry["load_after"] = os.getloadavg()[0]
            summary["models"][name] = entry
            if not args.model_dir:
                shutil.rmtree(model_dir, ignore_errors=True)  # the large ones are GBs
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary["uptime_end"] = _uptime()
    return summary


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def report(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['arch']} models, random weights, {summary['images']} images, {summary['threads']} threads,"
        f" batch {summary['batch_size']}, device {summary['device']}",
        f"start: {summary['uptime_start']}",
        f"{'model':<17} {'params':>7} {'new tok':>7} {'variant':>7} {'s/image':>8} {'cpu s/img':>9}"
        f" {'peak RSS':>10} {'load s':>7} {'busy elsewhere':>14} {'load avg':>11}",
    ]
    for name, entry in summary["models"].items():
        for variant, result in entry["results"].items():
            gpu = f" (GPU {result['peak_gpu_mib']:.0f} MiB)" if "peak_gpu_mib" in result else ""
            lines.append(
                f"{name:<17} {entry['params'] / 1e9:>6.3f}B {entry['new_tokens']:>7} {variant:>7}"
                f" {result['s_per_image']:>8.2f} {result['cpu_s_per_image']:>9.2f}"
                f" {result['peak_rss_mib']:>6.0f} MiB {result['load_s']:>7.1f}"
                f" {_percent(result.get('cpu_used_elsewhere')):>14}"
                f" {entry['load_before']:>5.2f}-{entry['load_after']:<5.2f}{gpu}"
            )
        if "fp32" in entry["results"] and "int8" in entry["results"]:
            ratio = entry["results"]["fp32"]["s_per_image"] / entry["results"]["int8"]["s_per_image"]
            lines.append(f"{name:<17} int8 speed-up over fp32: {ratio:.2f}")
    lines.append(f"end: {summary['uptime_end']}")
    baseline = summary["models"].get("vit-gpt2", {}).get("results", {}).get("fp32")
    if baseline:  # ratios in the same run: the figures a shared machine can still compare
        for name, entry in summary["models"].items():
            if name != "vit-gpt2" and "fp32" in entry["results"]:
                ratio = entry["results"]["fp32"]["s_per_image"] / baseline["s_per_image"]
                lines.append(f"{name} fp32 / vit-gpt2 fp32: {ratio:.2f}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {', '.join(MODELS)}")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of fp32,int8")
    parser.add_argument("--images", type=int,
                        help=f"number of images (default {DEFAULT_IMAGES}, --quick {QUICK_IMAGES})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_IMAGES} images: a smoke run")
    parser.add_argument("--arch", choices=("full", "tiny"), default="full", help="full: published sizes; tiny: tests")
    parser.add_argument("--batch-size", type=int, help="alttext batch size (default: alttext's for each model)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in every run")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: int8 runs only on cpu")
    parser.add_argument("--model-dir", help="keep the built models in this folder and reuse them next time")
    parser.add_argument("--json", dest="json_path", help="also write the figures (and captions) to this file")
    parser.add_argument("--worker", choices=("build", *VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--image-dir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not args.models or set(args.models) - set(MODELS):
        parser.error(f"--models: choose from {', '.join(MODELS)}")
    if not args.variants or set(args.variants) - set(VARIANTS):
        parser.error(f"--variants: choose from {', '.join(VARIANTS)}")
    if any(value is not None and value < 1 for value in (args.batch_size, args.images)) or args.threads < 1:
        parser.error("--images, --batch-size and --threads must be at least 1")
    if args.worker:
        args.model = args.models[0]
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
