"""Fault test: an embedding process is SIGKILLed at random moments, again and again. Every file must
always be either its old bytes or a complete, verified new version; a final run finishes the job and
leaves no temp file behind."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from metadata_helpers import HAVE_EXIFTOOL, pixels, temp_files
from PIL import Image
from skimage import data as samples

from alttext.metadata import read_descriptions

WORKER = """
import random
import sys
from pathlib import Path
from alttext.metadata import embed

folder, text = Path(sys.argv[1]), sys.argv[2]
paths = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
random.Random(text).shuffle(paths)  # each round starts elsewhere, so kills hit every file and format
print("ready", flush=True)
failed = 0
for path in paths:
    result = embed(path, text, fields={"alt", "exif"}, force=True)
    if result.status.value == "failed":
        print(path.name, result.error, file=sys.stderr, flush=True)
        failed += 1
    print("wrote", path.name, flush=True)  # lets the test aim its kill at any point of the run
sys.exit(1 if failed else 0)
"""
FILES = 50
ROUNDS = 10


def _make_photos(folder: Path) -> None:
    base = np.asarray(Image.fromarray(samples.astronaut()).resize((160, 160)))
    formats = ("jpg", "png", "webp", "tif", "jpg")
    for i in range(FILES):
        tile = np.roll(base, shift=(i * 7, i * 13), axis=(0, 1))
        path = folder / f"photo_{i:02d}.{formats[i % len(formats)]}"
        Image.fromarray(tile).save(path, **({"quality": 85} if path.suffix == ".jpg" else {}))


def _check(folder: Path, originals: dict[str, bytes], original_pixels: dict[str, np.ndarray],
           texts: list[str]) -> int:
    """Every file is old or completely new; returns how many are new."""
    new = 0
    for name, old in originals.items():
        path = folder / name
        current = path.read_bytes()
        if current == old:
            continue
        new += 1
        assert np.array_equal(pixels(path), original_pixels[name]), f"{name}: pixels changed"
        found = read_descriptions(path)
        assert found.errors == (), f"{name}: {found.errors}"
        alt = found.file.alt_text
        assert alt.get("x-default") in texts and alt.get("en") == alt.get("x-default"), f"{name}: {alt}"
        assert found.file.image_description == alt["x-default"], f"{name}: half-written fields"
    return new


def _warnings(folder: Path) -> set[tuple[str, str]]:
    """(file name, warning) for every file in ``folder``, from one exiftool -validate run."""
    out = subprocess.run(["exiftool", "-validate", "-warning", "-a", *map(str, sorted(folder.iterdir()))],
                         capture_output=True, text=True, timeout=120).stdout
    found, current = set(), ""
    for line in out.splitlines():
        if line.startswith("======== "):
            current = Path(line[9:]).name
        elif line.startswith("Warning"):
            found.add((current, line.split(":", 1)[1].strip()))
    return found


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    _make_photos(folder)
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    originals = {p.name: p.read_bytes() for p in folder.iterdir()}
    warnings_before = _warnings(folder) if HAVE_EXIFTOOL else set()
    original_pixels = {name: pixels(folder / name) for name in originals}
    rng = random.Random(20240611)
    texts: list[str] = []
    kills = 0
    for round_number in range(ROUNDS):
        text = f"Round {round_number}: an astronaut, tile after tile"
        texts.append(text)
        proc = subprocess.Popen([sys.executable, str(worker), str(folder), text],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        # Kill somewhere in the run whatever the machine's speed: after a random number of finished
        # files, plus a random moment inside the next write.
        for _ in range(rng.randrange(0, FILES - 5)):
            proc.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.03))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        _, errors = proc.communicate(timeout=60)
        assert "Traceback" not in errors, errors
        _check(folder, originals, original_pixels, texts)
    assert kills >= ROUNDS // 2, "the runs finished before they could be killed: make them longer"

    final = "Finally: an astronaut, tile after tile"
    texts.append(final)
    done = subprocess.run([sys.executable, str(worker), str(folder), final], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert _check(folder, originals, original_pixels, texts) == FILES
    assert all(read_descriptions(folder / n).file.alt_text["x-default"] == final for n in originals)
    assert temp_files(folder) == []
    assert sorted(p.name for p in folder.iterdir()) == sorted(originals)

    if HAVE_EXIFTOOL:  # the independent oracle on every final file: no warning the original lacked
        assert _warnings(folder) <= warnings_before
