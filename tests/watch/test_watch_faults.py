"""Fault test: the daemon is killed with SIGKILL at random moments while 300 photos arrive, and restarted
each time. At the end every photo is indexed exactly once with its caption, the index is intact, and no
photo was modified (the daemon only reads them unless --embed is on)."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from watchkit import Daemon, IndexView, noise_image, sha256, wait_for

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)

ARRIVALS = 300
KILLS = 10


def _arrive(root: Path, staging: Path, expected: dict[Path, str], seeds: dict[Path, int], rng: random.Random,
            stop: threading.Event) -> None:
    """300 photos, each in one of the ways photos arrive; every tenth shows the same picture as the one before."""
    for number in range(ARRIVALS):
        if stop.is_set():
            return
        seed = 7000 + (number - 1 if number % 10 == 9 else number)
        target = root / f"day-{number % 4}" / f"IMG_{number:04d}.png"
        target.parent.mkdir(exist_ok=True)
        how = number % 3
        if how == 0:  # written in place
            noise_image(seed).save(target)
        elif how == 1:  # temp file, then rename over (hidden temp name, like editors and rsync)
            temp = target.with_name(f".{target.name}.tmp")
            noise_image(seed).save(temp, format="PNG")
            os.replace(temp, target)
        else:  # copied elsewhere on the same disk, then moved in
            outside = staging / target.name
            noise_image(seed).save(outside)
            os.rename(outside, target)
        expected[target] = sha256(target)
        seeds[target] = seed
        time.sleep(rng.uniform(0.05, 0.35))


@pytest.mark.slow
def test_sigkill_at_random_moments_while_photos_arrive(tmp_path: Path, make_daemon: Callable[..., Daemon],
                                                       db: Path | str) -> None:
    root, staging = tmp_path / "photos", tmp_path / "staging"
    root.mkdir()
    staging.mkdir()
    rng = random.Random(20240501)
    expected: dict[Path, str] = {}
    seeds: dict[Path, int] = {}
    stop = threading.Event()
    writer = threading.Thread(target=_arrive, args=(root, staging, expected, seeds, random.Random(7), stop))
    daemon = make_daemon([root])
    index = IndexView(db)
    writer.start()
    kills = 0
    try:
        while kills < KILLS or writer.is_alive():
            daemon.start()
            if kills % 5 in (1, 3):  # some while it captions...
                daemon.wait_log("model loaded")
                time.sleep(rng.uniform(0.0, 1.5))
            else:  # ...the rest during start-up: schema, scan, settle, model import
                time.sleep(rng.uniform(0.2, 3.0))
            assert daemon.alive(), daemon.log()[-3000:]
            os.kill(daemon.pid, signal.SIGKILL)
            daemon.process.wait()
            kills += 1
            assert kills < 40
    finally:
        stop.set()
        writer.join()
    daemon.start()
    wait_for(lambda: index.count("SELECT count(*) FROM files WHERE state = 'indexed'") >= ARRIVALS,
             f"all {ARRIVALS} photos indexed after {kills} kills", daemon=daemon)
    # Photos indexed before the last kill make the wait above return at once: let the daemon get as far as
    # taking signals before asking it to stop (a SIGTERM during interpreter start-up kills it with -15).
    daemon.wait_log(r"watching .*\(")
    assert daemon.stop() == 0

    rows = index.query("SELECT path, state, image_id FROM files")
    assert sorted(os.fsdecode(row["path"]) for row in rows) == sorted(str(path) for path in expected)
    assert {row["state"] for row in rows} == {"indexed"}
    image_of = {Path(os.fsdecode(row["path"])): row["image_id"] for row in rows}
    by_seed: dict[int, set[int]] = {}
    for path, seed in seeds.items():
        by_seed.setdefault(seed, set()).add(image_of[path])
    assert all(len(ids) == 1 for ids in by_seed.values())  # one image per distinct picture...
    assert index.count("SELECT count(*) FROM images") == len(by_seed) == ARRIVALS - ARRIVALS // 10
    assert index.query("SELECT id FROM images WHERE caption_id IS NULL") == []
    # ...captioned once:
    assert index.query("SELECT image_id FROM captions GROUP BY image_id HAVING count(*) != 1") == []
    assert index.integrity() == "ok"
    assert {path: sha256(path) for path in expected} == expected  # no photo was modified
    log = daemon.log(all_runs=True)
    assert " ERROR " not in log and "Traceback" not in log, log[-5000:]
