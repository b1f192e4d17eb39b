"""Caption workers against one SQLite-backed ``scan``, in one run (docs/architecture.md §16).

    python bench/worker_bench.py                 # 240 photos, the shapes fixture model
    python bench/worker_bench.py --photos 60     # a quick run

Phases, on the same photos (seeded 96-320 px drawings of circles, squares and triangles, JPEG and PNG), each
into a fresh index:

- ``scan``: ``index.scan.scan`` (what ``alttext scan`` runs before its vectors and write-back) into an SQLite
  index in this process, model loaded beforehand, 2 torch threads.
- ``workers 1`` / ``workers 2``: the photos queued by a reconcile scan (what ``watch --no-caption`` does),
  then 1 or 2 ``alttext worker --until-empty`` processes on a PostgreSQL database (a throwaway server,
  tests/pg_kit.py), torch threads split between them (2, then 1 each). Their rate is files / (last
  ``last_seen`` - first ``started_at``) from the ``workers`` table: registration comes after the model is
  loaded, so Python start-up and model loading are left out, as for ``scan``.
- ``workers 1 sqlite``: one worker on an SQLite index (the same claims and checks, no network): what the
  worker's own bookkeeping costs, apart from PostgreSQL's round trips.
- ``round trips``: one in-process worker on PostgreSQL, every statement sent and every COMMIT counted
  (SQLAlchemy's ``before_cursor_execute`` and ``commit`` events, claim and heartbeat engines included), per
  image, and the same for the in-process ``scan`` on SQLite (statements only: SQLite is a library call).

Reported: images/s of each, ``ratio`` = workers images/s / scan images/s in the same run, round trips per
image, and ``uptime``'s load average (a shared machine skews everything: compare ratios, not seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# Idle OpenMP threads sleep, in this process as in the workers (Library.worker sets it too): on a shared machine
# spinning threads slow a batch down several times, and the comparison would measure that.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # pg_kit and fixtures.shapes, as the tests import them
MODEL = REPO / "tests" / "fixtures" / "shapes-captioner"


def make_photos(folder: Path, count: int) -> None:
    import random

    from fixtures.shapes import generate_sample

    rng = random.Random(0)
    folder.mkdir(parents=True)
    for i in range(count):
        image, _, _ = generate_sample(rng, min_side=96, max_side=320)
        image.save(folder / (f"p{i:04d}.jpg" if i % 2 else f"p{i:04d}.png"), quality=90)


def queue(db: str, folder: Path) -> None:
    from alttext.index.db import Index
    from alttext.index.reconcile import Reconciler

    with Index(db) as index:
        reconciler = Reconciler(index)
        reconciler.scan_root(str(folder))
        reconciler.match_moves()


def count_round_trips(index: Any) -> dict[str, int]:
    """Statements and COMMITs sent through every engine of ``index`` from now on."""
    from sqlalchemy import event

    counts = {"statements": 0, "commits": 0}

    def statement(*_: Any) -> None:
        counts["statements"] += 1

    def commit(*_: Any) -> None:
        counts["commits"] += 1

    def attach(engine: Any) -> None:
        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine, "commit", commit)

    for engine in (index.writer, index.reader):
        attach(engine)
    original = index._server_engine

    def counted(*args: Any, **kwargs: Any) -> Any:  # the claim engine is made on first use
        engine = original(*args, **kwargs)
        attach(engine)
        return engine

    index._server_engine = counted
    return counts


def scan_phase(folder: Path, work: Path) -> dict[str, Any]:
    """What ``alttext scan`` does up to the captions (reconcile + ingest; not the vectors after it)."""
    from alttext.captioning import Captioner
    from alttext.index.db import Index
    from alttext.index.scan import scan

    captioner = Captioner(str(MODEL), device="cpu", batch_size=8, threads=2)
    with Index(work / "scan.sqlite3") as index:
        counts = count_round_trips(index)
        started = time.perf_counter()
        summary = scan(index, [str(folder)], lambda: captioner, batch_size=8, max_pixels=10**8)
        seconds = time.perf_counter() - started
    files = summary.captioned + summary.reused
    return {"files": files, "seconds": round(seconds, 2), "images_per_s": round(files / seconds, 2),
            "statements_per_image": round(counts["statements"] / max(1, files), 2)}


def workers_phase(server: Any, folder: Path, workers: int, home: Path, sqlite: Path | None = None) -> dict[str, Any]:
    name = server.new_database()
    url = str(sqlite) if sqlite is not None else server.url(name)
    queue(url, folder)
    env = {**os.environ, "HOME": str(home), "HF_HUB_OFFLINE": "1", "ALTTEXT_THREADS": str(max(1, 2 // workers))}
    processes = [subprocess.Popen([sys.executable, "-m", "alttext", "--db", url, "worker", "--model", str(MODEL),
                                   "--batch-size", "8", "--until-empty", "--no-metadata"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(workers)]
    for process in processes:
        _, err = process.communicate(timeout=3600)
        if process.returncode:
            raise RuntimeError(err.decode(errors="replace")[-2000:])
    sql = "SELECT min(started_at), max(last_seen), sum(files_done) FROM workers"
    if sqlite is not None:
        import sqlite3
        from datetime import datetime

        with sqlite3.connect(sqlite) as connection:
            first, last, files = connection.execute(sql).fetchone()
        first, last = datetime.fromisoformat(first), datetime.fromisoformat(last)
    else:
        with server.connect(name) as connection:
            first, last, files = connection.execute(sql).fetchone()
    seconds = (last - first).total_seconds()
    return {"workers": workers, "files": int(files), "seconds": round(seconds, 2),
            "images_per_s": round(int(files) / seconds, 2)}


def round_trip_phase(server: Any, folder: Path) -> dict[str, Any]:
    from alttext.captioning import Captioner
    from alttext.index.db import Index
    from alttext.index.leases import WorkerIdentity
    from alttext.library.worker import CaptionWorker, WorkerOptions

    name = server.new_database()
    queue(server.url(name), folder)
    captioner = Captioner(str(MODEL), device="cpu", batch_size=8, threads=2)
    with Index(server.url(name)) as index:
        counts = count_round_trips(index)
        worker = CaptionWorker(index, WorkerOptions(lease=60, batch_size=8, until_empty=True), lambda: captioner,
                               WorkerIdentity("bench", os.getpid(), "shapes"), threading.Event())
        totals = worker.run()
    trips = counts["statements"] + counts["commits"]
    return {"files": totals.files, "statements": counts["statements"], "commits": counts["commits"],
            "round_trips_per_image": round(trips / max(1, totals.files), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=240)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    import pg_kit

    bin_dir = pg_kit.server_bin()
    if bin_dir is None:
        sys.exit("needs a PostgreSQL server binary (apt-get install postgresql)")
    results: dict[str, Any] = {"photos": args.photos, "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="alttext-worker-bench-") as temp:
        work = Path(temp)
        folder = work / "photos"
        make_photos(folder, args.photos)
        server = pg_kit.PostgresServer(bin_dir)
        server.start()
        try:
            results["scan"] = scan_phase(folder, work)
            print("scan (SQLite):", results["scan"], flush=True)
            for workers in (1, 2):
                results[f"workers_{workers}"] = workers_phase(server, folder, workers, work / "home")
                ratio = results[f"workers_{workers}"]["images_per_s"] / results["scan"]["images_per_s"]
                results[f"ratio_{workers}"] = round(ratio, 2)
                print(f"{workers} worker(s) (PostgreSQL):", results[f"workers_{workers}"], f"ratio {ratio:.2f}",
                      flush=True)
            results["workers_1_sqlite"] = workers_phase(server, folder, 1, work / "home", sqlite=work / "w.sqlite3")
            results["ratio_1_sqlite"] = round(results["workers_1_sqlite"]["images_per_s"]
                                              / results["scan"]["images_per_s"], 2)
            print("1 worker (SQLite):", results["workers_1_sqlite"], f"ratio {results['ratio_1_sqlite']:.2f}",
                  flush=True)
            results["round_trips"] = round_trip_phase(server, folder)
            print("round trips:", results["round_trips"], flush=True)
        finally:
            server.stop()
    results["load_after"] = os.getloadavg()
    print("load average before / after:", results["load_before"], results["load_after"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
