"""Mutated real photos of every supported format through ``scan``, ``watch`` and ``caption``: no exception
escapes, and after two scans no file is left ``pending``: each is indexed, or failed with a one-line reason.

The small corpus runs in this process in a few seconds. The large one (marked ``slow``) runs the installed
``alttext`` command itself, as a person would; ``HOSTILE_CORPUS_PER_FORMAT`` sets its size (default 12 damaged
files per format; the run that found the RuntimeError bug had about 500 per format).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from helpers import alttext_command, run_alttext
from hostilekit import (
    DAMAGED_AVIF,
    DAMAGED_HEIC,
    FileRow,
    caption_all,
    errors_logged,
    file_rows,
    run_scan,
    watch_until_settled,
)
from mutants import extensions, write_corpus
from photos import NAMES

from alttext.captioning import Captioner

SEED = 20_240_613
LARGE_PER_FORMAT = int(os.environ.get("HOSTILE_CORPUS_PER_FORMAT", "12"))


@pytest.fixture(scope="module")
def captioner(tiny_model: Path) -> Captioner:
    return Captioner(str(tiny_model), device="cpu", batch_size=8)


def _corpus(folder: Path, *, per_format: int, seed: int, side: int) -> dict[Path, bytes]:
    """The seeded corpus plus the two kept damaged files (their decoders raise RuntimeError, whatever the
    encoders installed make of the seeded mutants)."""
    corpus = write_corpus(folder, per_format, seed=seed, side=side)
    for damaged in (DAMAGED_AVIF, DAMAGED_HEIC):
        corpus[folder / damaged.name] = damaged.read_bytes()
        (folder / damaged.name).write_bytes(corpus[folder / damaged.name])
    return corpus


def _check_outcomes(rows: dict[str, FileRow], corpus: dict[Path, bytes]) -> None:
    """Every file indexed, or failed with a reason on one line; the undamaged originals indexed."""
    assert set(rows) == {str(path) for path in corpus}
    for path, row in rows.items():
        assert row.state in ("indexed", "failed"), (path, row)
        if row.state == "failed":
            assert row.error and "\n" not in row.error, (path, row)
    originals = {str(path) for path in corpus if path.stem in NAMES}
    assert len(originals) == len(NAMES) * len(extensions())
    assert all(rows[path].state == "indexed" for path in originals)


def _failed(rows: dict[str, FileRow]) -> set[str]:
    return {path for path, row in rows.items() if row.state == "failed"}


def test_a_small_mutated_corpus_through_scan_watch_and_caption(
    tmp_path: Path, captioner: Captioner, tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = _corpus(tmp_path / "photos", per_format=8, seed=SEED, side=64)
    caplog.set_level(logging.INFO)

    scanned = tmp_path / "scan.sqlite3"
    for _ in range(2):
        run_scan(scanned, tmp_path / "photos", captioner)
        _check_outcomes(file_rows(scanned), corpus)
    assert _failed(file_rows(scanned)), "the corpus should hold files that cannot be decoded"

    watched = tmp_path / "watch.sqlite3"
    run = watch_until_settled(watched, tmp_path / "photos", captioner)
    assert run.stats.errors == 0 and errors_logged(caplog.records) == []
    assert run.settled
    _check_outcomes(file_rows(watched), corpus)
    assert _failed(file_rows(watched)) == _failed(file_rows(scanned))  # the same rules, the same verdicts

    results = caption_all(tmp_path / "photos", tiny_model)
    assert sorted(location for location, _, _ in results) == sorted(str(path) for path in corpus)
    for location, alt, error in results:
        assert (alt is None) != (error is None), location
        assert error is None or "\n" not in error, (location, error)
        if Path(location).stem in NAMES:
            assert alt, location


# -- the large run, through the installed command ----------------------------------------------------------
def _no_traceback(output: str) -> None:
    assert "Traceback" not in output, output[-4000:]


@pytest.mark.slow
def test_a_large_mutated_corpus_through_the_alttext_command(tmp_path: Path, tiny_model: Path) -> None:
    corpus = _corpus(tmp_path / "photos", per_format=LARGE_PER_FORMAT, seed=SEED + 1, side=96)
    model = ["--model", str(tiny_model), "--device", "cpu"]

    db = tmp_path / "scan.sqlite3"
    for _ in range(2):
        scanned = run_alttext("--db", str(db), "scan", str(tmp_path / "photos"), "--json", *model, timeout=900)
        _no_traceback(scanned.stderr)
        assert scanned.returncode in (0, 1), scanned.stderr[-4000:]  # 1: some files failed
        json.loads(scanned.stdout)
        _check_outcomes(file_rows(db), corpus)

    captioned = run_alttext("caption", str(tmp_path / "photos"), "--json", *model, timeout=900)
    _no_traceback(captioned.stderr)
    assert captioned.returncode in (0, 1), captioned.stderr[-4000:]
    results = json.loads(captioned.stdout)
    assert len(results) == len(corpus)

    watched = tmp_path / "watch.sqlite3"
    log = tmp_path / "watch.log"
    with open(log, "wb") as output:
        daemon = subprocess.Popen([*alttext_command(), "--db", str(watched), "watch", str(tmp_path / "photos"),
                                   *model], stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and daemon.poll() is None:
            try:
                rows = file_rows(watched) if watched.exists() else {}
            except sqlite3.OperationalError:  # the file exists before the daemon's migrations have made the tables
                rows = {}
            if len(rows) == len(corpus) and all(row.state != "pending" for row in rows.values()):
                break
            time.sleep(0.5)
        assert daemon.poll() is None, log.read_text(errors="replace")[-4000:]
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
    text = log.read_text(errors="replace")
    _no_traceback(text)
    _check_outcomes(file_rows(watched), corpus)
    assert _failed(file_rows(watched)) == _failed(file_rows(db))
