"""Does ``alttext watch`` keep its memory flat? RSS after 2,000 processed photos vs after the first 200.

    python bench/watch_memory.py                      # tiny random model, 2,000 photos of 48 px
    python bench/watch_memory.py --photos 5000 --model MODEL_DIR --size 256

Runs the installed ``alttext watch`` (a real subprocess, real inotify) on a temp folder with its own
index, and feeds it photos in chunks of 200: odd chunks as a folder moved in at once, even chunks as
files written one by one. After each chunk it waits until the index has every photo and the daemon is
idle, then reads the daemon's ``VmRSS`` from /proc. Prints one line per chunk and a summary; exits 1
if RSS after the last chunk is more than ``--limit`` (15 %) above RSS after the first chunk.

Every photo is a distinct random picture, so each one goes through the model (nothing is re-used).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CHUNK = 200


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def processed(db: Path) -> int:
    """Files indexed or failed (a random model now and then says nothing: that photo fails, correctly)."""
    if not db.exists():
        return 0
    connection = sqlite3.connect(db, timeout=30)
    try:
        return connection.execute("SELECT count(*) FROM files WHERE state IN ('indexed', 'failed')").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        connection.close()


def photo(seed: int, size: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--size", type=int, default=48, help="photo width and height in pixels")
    parser.add_argument("--model", help="model folder (default: a tiny random vit-gpt2 built here)")
    parser.add_argument("--limit", type=float, default=0.15, help="allowed RSS growth (0.15 = 15 %%)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for one chunk")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="alttext-watch-memory-"))
    try:
        model = args.model
        if model is None:
            sys.path.insert(0, str(REPO / "tests"))
            from tiny_models import build_tiny_vit_gpt2

            model = str(build_tiny_vit_gpt2(work / "model"))
        root, staging, db = work / "photos", work / "staging", work / "index.sqlite3"
        root.mkdir()
        staging.mkdir()
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HOME": str(work), "XDG_CONFIG_HOME": str(work / "config")}
        command = shutil.which("alttext") or str(Path(sys.executable).parent / "alttext")
        log = open(work / "daemon.log", "wb")  # noqa: SIM115 (closed in finally)
        daemon = subprocess.Popen([command, "--db", str(db), "watch", str(root), "--model", model, "-v"],
                                  stdout=log, stderr=log, env=env)
        try:
            return _feed(args, daemon, root, staging, db)
        finally:
            daemon.terminate()
            daemon.wait(120)
            log.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _feed(args: argparse.Namespace, daemon: subprocess.Popen[bytes], root: Path, staging: Path, db: Path) -> int:
    samples: list[tuple[int, int]] = []
    started = time.monotonic()
    done = 0
    for chunk, first in enumerate(range(0, args.photos, CHUNK)):
        count = min(CHUNK, args.photos - first)
        if chunk % 2:  # a folder moved in at once
            folder = staging / f"chunk-{chunk}"
            folder.mkdir()
            for number in range(first, first + count):
                photo(number, args.size).save(folder / f"p{number:05d}.png")
            folder.rename(root / folder.name)
        else:  # files written one by one
            folder = root / f"chunk-{chunk}"
            folder.mkdir()
            for number in range(first, first + count):
                photo(number, args.size).save(folder / f"p{number:05d}.png")
        done += count
        deadline = time.monotonic() + args.timeout
        while processed(db) < done:
            if daemon.poll() is not None:
                print(f"the daemon exited with {daemon.returncode}", file=sys.stderr)
                return 2
            if time.monotonic() > deadline:
                print(f"timed out: {processed(db)} of {done} processed", file=sys.stderr)
                connection = sqlite3.connect(db, timeout=30)
                for row in connection.execute("SELECT path, state, error FROM files WHERE state = 'pending'"):
                    print(f"  pending: {row}", file=sys.stderr)
                connection.close()
                log = (db.parent / "daemon.log").read_text(errors="replace").splitlines()
                print("\n".join(log[-40:]), file=sys.stderr)
                return 2
            time.sleep(0.2)
        time.sleep(1.0)  # let the round finish (heap trim, status)
        rss = rss_kib(daemon.pid)
        samples.append((done, rss))
        elapsed = time.monotonic() - started
        print(f"{done:6d} photos processed  RSS {rss / 1024:7.1f} MiB  ({elapsed:5.1f} s)", flush=True)
    first_rss, last_rss = samples[0][1], samples[-1][1]
    growth = last_rss / first_rss - 1
    peak = max(rss for _, rss in samples)
    print(f"RSS after {samples[0][0]}: {first_rss / 1024:.1f} MiB; after {samples[-1][0]}: {last_rss / 1024:.1f} MiB;"
          f" growth {growth * 100:+.1f} % (limit {args.limit * 100:.0f} %); highest {peak / 1024:.1f} MiB")
    return 0 if growth <= args.limit else 1


if __name__ == "__main__":
    sys.exit(main())
