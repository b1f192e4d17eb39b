"""Leases on pending files (alttext/index/leases.py, docs/architecture.md §16), on SQLite and PostgreSQL:
claims are disjoint, a lapsed worker's files pass on, a lost worker can neither claim nor store, and the
worker loop captions every picture once with several workers in one process."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from helpers import sql_rows
from PIL import Image

from alttext.index.db import Index
from alttext.index.ingest import Ingester
from alttext.index.leases import (
    LeasedClaims,
    LeaseLost,
    WorkerIdentity,
    claim_files,
    claimed_count,
    register_worker,
    release_lapsed,
    renew_lease,
    retire_worker,
    worker_rows,
)
from alttext.index.reconcile import Reconciler
from alttext.library.worker import CaptionWorker, WorkerOptions

pytestmark = pytest.mark.both_backends

LEASE = timedelta(seconds=60)
ME = WorkerIdentity("host-a", 1234, "planted")


class Captioner:
    """Stands in for the model: each picture's caption is its colour; counts the pictures it was given."""

    model_id = "planted"
    revision = None
    generation_params: ClassVar[dict[str, object]] = {}
    batch_size = 4

    def __init__(self) -> None:
        self.seen = 0
        self.lock = threading.Lock()

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return np.asarray(image.convert("RGB"))[:1, :1, :]

    def describe(self, pixels: list[np.ndarray]) -> None:
        return None

    def generate(self, pixels: list[np.ndarray]) -> list[str]:
        with self.lock:
            self.seen += len(pixels)
        return [f"colour {' '.join(str(int(v)) for v in item[0, 0])}" for item in pixels]


def _queue(index: Index, folder: Path, count: int) -> None:
    """``count`` distinct pictures in ``folder``, found by a reconcile scan: pending, not captioned."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", (8, 8), (i % 256, i // 256, 7)).save(folder / f"p{i:03d}.png")
    reconciler = Reconciler(index)
    reconciler.scan_root(str(folder))
    reconciler.match_moves()


def _expire(index: Index, worker_id: int) -> None:
    with index.write() as connection:
        connection.exec_driver_sql(
            f"UPDATE workers SET lease_until = last_seen - INTERVAL '1 hour' WHERE id = {worker_id}"
            if index.dialect == "postgresql" else
            f"UPDATE workers SET lease_until = '2000-01-01 00:00:00' WHERE id = {worker_id}"
        )


def test_claims_are_disjoint_and_in_id_order(index: Index, tmp_path: Path) -> None:
    _queue(index, tmp_path / "photos", 10)
    a, b = register_worker(index, ME, LEASE), register_worker(index, ME, LEASE)
    first, second, rest = claim_files(index, a, 4), claim_files(index, b, 4), claim_files(index, a, 4)
    ids = [file_id for file_id, _ in first + second + rest]
    assert len(ids) == len(set(ids)) == 10
    assert [file_id for file_id, _ in first] == sorted(ids)[:4]
    assert claim_files(index, b, 4) == []
    assert claimed_count(index) == 10
    holding = {row.id: row.holding for row in worker_rows(index)}
    assert holding == {a: 6, b: 4}


def test_a_lapsed_worker_loses_its_files_and_cannot_store_or_claim(index: Index, tmp_path: Path) -> None:
    _queue(index, tmp_path / "photos", 6)
    stalled, other = register_worker(index, ME, LEASE), register_worker(index, ME, LEASE)
    stalled_source = LeasedClaims(index, lambda: stalled)
    taken = stalled_source.fetch(6)
    assert claim_files(index, other, 6) == []  # all held
    assert release_lapsed(index) == 0  # the lease still runs
    _expire(index, stalled)
    assert release_lapsed(index) == 6
    assert sorted(claim_files(index, other, 10)) == sorted(taken)  # handed on
    # The stalled worker comes back: its results are refused, it can't renew or claim under its old id.
    with index.write() as connection:
        assert stalled_source.held(connection, [file_id for file_id, _ in taken]) == set()
    assert not renew_lease(index, stalled, LEASE, files_done=0, images_done=0)
    with pytest.raises(LeaseLost):
        claim_files(index, stalled, 1)
    assert {row.id: row.state for row in worker_rows(index)} == {stalled: "lost", other: "active"}


def test_scan_ingest_leaves_claimed_files_to_their_worker(index: Index, tmp_path: Path) -> None:
    _queue(index, tmp_path / "photos", 5)
    worker_id = register_worker(index, ME, LEASE)
    claimed = {file_id for file_id, _ in claim_files(index, worker_id, 2)}
    captioner = Captioner()
    report = Ingester(index, lambda: captioner, batch_size=4).run()
    assert report.captioned == 3
    pending = {row[0] for row in sql_rows(index, "SELECT id FROM files WHERE state = 'pending'")}
    assert pending == claimed
    retire_worker(index, worker_id, files_done=0, images_done=0)  # a clean exit gives them back
    assert claimed_count(index) == 0
    assert Ingester(index, lambda: captioner, batch_size=4).run().captioned == 2


def test_workers_caption_every_picture_once(index: Index, tmp_path: Path) -> None:
    _queue(index, tmp_path / "photos", 40)
    captioner = Captioner()
    options = WorkerOptions(lease=30, poll=0.05, batch_size=4, until_empty=True)
    workers = [CaptionWorker(index, options, lambda: captioner, WorkerIdentity("host", n, "planted"))
               for n in range(3)]
    threads = [threading.Thread(target=worker.run) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(worker.totals.images for worker in workers) == 40 == captioner.seen
    assert sql_rows(index, "SELECT state, count(*) FROM files GROUP BY state") == [("indexed", 40)]
    assert sql_rows(index, "SELECT count(*) FROM captions WHERE source = 'model'") == [(40,)]
    assert sql_rows(index, "SELECT count(*) FROM files WHERE lease_owner IS NOT NULL") == [(0,)]
    rows = worker_rows(index)
    assert {row.state for row in rows} == {"stopped"}
    assert sum(row.images_done for row in rows) == 40


def test_a_worker_that_lost_its_lease_registers_again(index: Index, tmp_path: Path) -> None:
    _queue(index, tmp_path / "photos", 3)
    captioner = Captioner()
    worker = CaptionWorker(index, WorkerOptions(lease=30, poll=0.05, until_empty=True), lambda: captioner,
                           WorkerIdentity("host", 1, "planted"))
    first = worker._register()
    _expire(index, first)
    release_lapsed(index)
    worker.totals = worker.run()
    assert worker.totals.registrations[0] == first and len(worker.totals.registrations) == 2
    assert worker.totals.images == 3
