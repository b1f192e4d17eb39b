"""``alttext watch --no-caption`` finds and queues photos without loading a model; ``alttext worker``
captions them (docs/architecture.md §16)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from watchkit import Daemon, IndexView, clean_env, wait_for, write_photo


def test_a_queue_only_watcher_leaves_captioning_to_a_worker(tmp_path: Path, tiny_model: Path,
                                                            make_daemon: Callable[..., Daemon]) -> None:
    root = tmp_path / "photos"
    for seed in range(3):
        write_photo(root / f"p{seed}.png", seed)
    daemon = make_daemon([root], "--no-caption").start()
    index = IndexView(tmp_path / "index.sqlite3")
    wait_for(lambda: index.count("SELECT count(*) FROM files WHERE state = 'pending'") == 3, "3 photos queued",
             daemon=daemon)
    db = str(tmp_path / "index.sqlite3")
    done = subprocess.run([sys.executable, "-m", "alttext", "--db", db, "worker", "--model", str(tiny_model),
                           "--until-empty"], capture_output=True, text=True, timeout=300,
                          env=clean_env(tmp_path / "home"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "indexed 3 file(s), 3 through the model" in done.stderr
    assert index.count("SELECT count(*) FROM files WHERE state = 'indexed'") == 3
    assert index.count("SELECT count(*) FROM workers WHERE state = 'stopped'") == 1
    assert daemon.stop() == 0
    assert "loading the captioning model" not in daemon.log(all_runs=True)
