"""Running damaged files through the three ways alttext reads photos, in this process: the index scan, the
watch daemon's writer thread, and ``Library.caption``; and reading back what the index recorded."""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alttext import Library
from alttext.captioning import Captioner
from alttext.index.db import Index
from alttext.index.reconcile import MAX_ATTEMPTS
from alttext.index.scan import ScanSummary, scan
from alttext.watch.loop import ModelHolder, RoundStats, WatchOptions, Worker
from alttext.watch.observe import Hint

HERE = Path(__file__).parent
DAMAGED_AVIF = HERE / "damaged.avif"  # Pillow's AVIF plugin: RuntimeError "Decoding of color planes failed"
DAMAGED_HEIC = HERE / "damaged.heic"  # pillow-heif: RuntimeError "Security limit exceeded"
LIMIT = 100_000_000


@dataclass
class FileRow:
    path: str
    state: str
    error: str | None
    attempts: int


def file_rows(db: Path) -> dict[str, FileRow]:
    """Every file the index knows, read with plain sqlite3 (independent of alttext's own queries)."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT path, state, error, attempts FROM files").fetchall()
    return {os.fsdecode(path): FileRow(os.fsdecode(path), state, error, attempts)  # paths are stored as bytes
            for path, state, error, attempts in rows}


def run_scan(db: Path, folder: Path, captioner: Captioner) -> ScanSummary:
    with Index(db) as index:
        return scan(index, [str(folder)], lambda: captioner, batch_size=captioner.batch_size, max_pixels=LIMIT)


def caption_all(folder: Path, model: Path) -> list[tuple[str, str | None, str | None]]:
    """``Library.caption`` over a folder (what ``alttext caption`` runs): (path, alt text, error) per file."""
    with Library(folder.parent / "unused.sqlite3", model=str(model), device="cpu", max_image_pixels=LIMIT) as library:
        return [(result.location, result.alt_text, result.error) for result in library.caption([str(folder)])]


def settled(db: Path) -> bool:
    """Nothing pending, and every failed file has used up its attempts (parked)."""
    rows = file_rows(db).values()
    return bool(rows) and all(
        row.state != "pending" and (row.state != "failed" or row.attempts >= MAX_ATTEMPTS) for row in rows
    )


@dataclass
class WatchRun:
    stats: RoundStats
    settled: bool


def watch_until_settled(db: Path, folder: Path, captioner: Captioner, timeout: float = 60.0) -> WatchRun:
    """The daemon's writer thread (``alttext watch`` without the observer) on ``folder`` until every file is
    indexed or parked as failed, with retries seconds apart instead of minutes."""
    with Index(db) as index:
        options = WatchOptions(roots=[str(folder)], settle_seconds=0.0, batch_size=captioner.batch_size,
                               max_pixels=LIMIT, retry_base=0.02)
        stop = threading.Event()
        hints: queue.Queue[Hint] = queue.Queue()
        worker = Worker(index, options, ModelHolder(lambda: captioner), hints, stop)
        worker.start()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and worker.is_alive() and not settled(db):
                time.sleep(0.1)
        finally:
            stop.set()
            hints.put(Hint("wake"))  # don't wait out its idle tick
            worker.join(30)
        return WatchRun(worker.stats, settled(db))


def errors_logged(records: list[logging.LogRecord]) -> list[str]:
    """Log lines at ERROR or with a traceback: what a damaged file must never cause."""
    return [record.getMessage() for record in records if record.levelno >= logging.ERROR or record.exc_info]


def parked_warnings(records: list[logging.LogRecord]) -> Iterator[str]:
    return (record.getMessage() for record in records if "parked as failed" in record.getMessage())
