"""Start-up of the everyday read commands (issue 14): wall time of ``alttext status``, ``search`` and
``show`` (and ``--help``) as fresh processes, against a bare ``python -c pass`` in the same run.

    python bench/startup_bench.py                 # 30 runs of each, 200 photos
    python bench/startup_bench.py --runs 5        # quick
    python bench/startup_bench.py --baseline-tree /tmp/old   # also run another checkout's alttext (before/after)

The index is made once in a temporary folder by the real scan pipeline with a stand-in captioner (no
model: solid-colour PNGs, each "captioned" with a synthetic sentence), then what follows a scan (sentence
vectors, when the `semantic` extra is installed, so the default search is the fused one a user gets).
Each run starts a new interpreter; the commands take turns (round-robin), so a busy moment hits all of
them alike. Reported per command: median and p95 wall seconds, the median's ratio to the bare
interpreter's median, and the median CPU seconds (user + system: steadier than wall time when other
processes share the machine). Target (issue 14): status, search and show under 0.25 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

from alttext.index.db import Index
from alttext.index.scan import scan
from alttext.library.after_index import AfterIndexing

WORDS = ["dog", "cat", "beach", "tree", "red", "car", "child", "mountain", "river", "bench", "kite", "boat"]


class StandInCaptioner:
    """Duck-types alttext.captioning.Captioner: each picture's colour picks its sentence."""

    model_id = "stand-in"
    revision = None
    generation_params: ClassVar[dict[str, object]] = {}
    batch_size = 16

    def __init__(self, captions: dict[tuple[int, ...], str]) -> None:
        self.captions = captions

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return np.asarray(image.convert("RGB"), dtype=np.float32)[:1, :1, :]

    def describe(self, pixels: np.ndarray) -> None:
        return None  # a pixels-only model: alt text only

    def read_text(self, pixels: np.ndarray) -> None:
        return None  # reads no text in the picture

    def generate(self, pixels: np.ndarray) -> list[str]:
        return [self.captions[tuple(round(float(v)) for v in item[0, 0])] for item in pixels]


def make_index(folder: Path, photos: int) -> tuple[Path, Path]:
    rng = random.Random(14)
    captions: dict[tuple[int, ...], str] = {}
    (folder / "photos").mkdir()
    for i in range(photos):
        rgb = (i % 256, (i // 256) % 256, 7)
        Image.new("RGB", (16, 16), rgb).save(folder / "photos" / f"p{i:05d}.png")
        captions[rgb] = f"A {rng.choice(WORDS)} next to a {rng.choice(WORDS)} and a {rng.choice(WORDS)}."
    db = folder / "index.sqlite3"
    with Index(db) as index:
        captioner = StandInCaptioner(captions)
        scan(index, [str(folder / "photos")], lambda: captioner, batch_size=16, max_pixels=10_000_000)
        AfterIndexing(index, roots=[str(folder / "photos")]).run()  # vectors, as after `alttext scan`
    return db, folder / "photos" / "p00000.png"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(command: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run; CPU time (user + system) barely moves when other processes
    share the machine, so it is the fairer comparison on a busy one."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode(errors='replace')}")
    return elapsed, _children_cpu() - cpu_before


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--json", metavar="FILE", help="Also write the figures as JSON.")
    parser.add_argument("--baseline-tree", metavar="DIR",
                        help="Another alttext checkout (e.g. `git archive` of an older commit): its commands run"
                             " too, on the same index, marked [baseline].")
    args = parser.parse_args()
    root = str(Path(__file__).resolve().parents[1])

    def env_for(tree: str) -> dict[str, str]:
        # Bytecode is cached, as an installed alttext's is (pip compiles it): with PYTHONDONTWRITEBYTECODE
        # set (some CI and sandboxes set it), every run would compile every module again (~60 ms).
        environ = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        return {**environ, "PYTHONPATH": os.pathsep.join([tree, os.environ.get("PYTHONPATH", "")]),
                "HF_HUB_OFFLINE": "1"}

    trees = {"": env_for(root)}
    if args.baseline_tree:
        trees[" [baseline]"] = env_for(os.path.abspath(args.baseline_tree))
    with tempfile.TemporaryDirectory(prefix="alttext-startup-") as temp:
        db, photo = make_index(Path(temp), args.photos)
        alttext = [sys.executable, "-m", "alttext", "--db", str(db)]
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], trees[""])}
        for mark, env in trees.items():
            commands.update({
                f"alttext --help{mark}": ([sys.executable, "-m", "alttext", "--help"], env),
                f"alttext status{mark}": ([*alttext, "status"], env),
                f"alttext search dog{mark}": ([*alttext, "search", "dog"], env),
                f"alttext search --fts dog{mark}": ([*alttext, "search", "--fts", "dog"], env),
                f"alttext show PHOTO{mark}": ([*alttext, "show", str(photo)], env),
            })
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for command, env in commands.values():  # one untimed warm-up each (page cache, .pyc files)
            time_once(command, env, temp)
        for _ in range(args.runs):
            for name, (command, env) in commands.items():
                # cwd: the temporary folder, since `python -m` puts the working folder first on the path
                # (run from a checkout, every tree's commands would import that checkout's alttext)
                wall, used = time_once(command, env, temp)
                times[name].append(wall)
                cpu[name].append(used)
    base = statistics.median(times["python -c pass"])
    figures = {name: {"median_s": round(statistics.median(values), 4), "p95_s": round(p95(values), 4),
                      "ratio_to_python": round(statistics.median(values) / base, 1),
                      "cpu_median_s": round(statistics.median(cpu[name]), 4)}
               for name, values in times.items()}
    print(f"{args.runs} runs each, {args.photos} photos; Python {sys.version.split()[0]};"
          f" load average at the end {os.getloadavg()[0]:.2f}")
    print(f"{'command':<38} {'median s':>9} {'p95 s':>7} {'x python':>9} {'cpu s':>7}")
    for name, row in figures.items():
        print(f"{name:<38} {row['median_s']:>9.3f} {row['p95_s']:>7.3f} {row['ratio_to_python']:>9.1f}"
              f" {row['cpu_median_s']:>7.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": args.runs, "photos": args.photos, "figures": figures},
                                              indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
