"""Workers also claim vectors and variants jobs (alttext/index/leases.py, docs/architecture.md §16), on SQLite
and PostgreSQL: several workers do each item once, a lapsed worker's claims pass on, a lost worker's late
result never replaces the takeover's, and a watcher leaves a kind of work to active workers that take it."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from helpers import sql_rows
from PIL import Image
from sqlalchemy import text
from test_leases import LEASE, ME, Captioner, _expire, _queue

from alttext.index.db import Index
from alttext.index.ingest import Ingester
from alttext.index.leases import (
    CAPTIONS,
    VARIANTS,
    VECTORS,
    WorkerIdentity,
    active_worker_kinds,
    claim_files,
    claim_variant_jobs,
    claim_vectors,
    register_worker,
    release_lapsed,
    retire_worker,
    settle_vectors,
    worker_rows,
)
from alttext.index.reconcile import Reconciler
from alttext.index.variant_jobs import process_variant_jobs, queue_variants, run_claimed_variant_jobs, utcnow
from alttext.library.worker import CaptionWorker, WorkerOptions, worker_kinds
from alttext.search.vectors import compute_pending_vectors, from_blobs, store_claimed_vectors
from alttext.variants.result import VariantResult

pytestmark = pytest.mark.both_backends


class Encoder:
    """Stands in for the sentence model: every vector is ``value`` everywhere; counts each text it encoded."""

    name, dim = "fake-encoder", 4

    def __init__(self, value: float = 0.5) -> None:
        self.value = value
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int = 8) -> np.ndarray:
        with self.lock:
            self.seen.update(texts)
        return np.full((len(texts), self.dim), self.value, dtype=np.float32)


class Variants:
    """Stands in for the chat client: ``n`` variants that say who made them; counts the captions asked."""

    cap_reached = False
    requests_made = 0

    def __init__(self, tag: str = "v") -> None:
        self.tag = tag
        self.model = "fake-chat"
        self.asked: Counter[str] = Counter()
        self.lock = threading.Lock()

    def generate_variants(self, caption: str, n: int = 3, style: str = "catchy") -> VariantResult:
        with self.lock:
            self.asked[caption] += 1
        return VariantResult([f"{self.tag} {i} of {caption}" for i in range(n)], self.model, style, 1, n=n)

    def reset_request_count(self) -> None:
        pass

    def close(self) -> None:
        pass


def _captioned(index: Index, folder: Path, count: int) -> list[int]:
    """``count`` pictures captioned by a plain ingest (no vectors yet); their caption ids."""
    _queue(index, folder, count)
    Ingester(index, Captioner, batch_size=8).run()
    return [int(row[0]) for row in sql_rows(index, "SELECT caption_id FROM images ORDER BY id")]


def test_three_workers_do_each_vector_and_variants_job_once(index: Index, tmp_path: Path) -> None:
    caption_ids = _captioned(index, tmp_path / "photos", 30)
    queue_variants(index, caption_ids[:12], 2, "catchy")
    more = tmp_path / "more"  # and new pictures, whose captions need vectors too
    more.mkdir()
    for i in range(6):
        Image.new("RGB", (8, 8), (i, 100, 7)).save(more / f"n{i}.png")
    Reconciler(index).scan_root(str(more))
    encoder, chat, captioner = Encoder(), Variants(), Captioner()
    options = WorkerOptions(lease=30, poll=0.05, batch_size=4, until_empty=True, kinds=(CAPTIONS, VECTORS, VARIANTS),
                            vector_batch=4, vector_batches=2, variants_batch=2)
    workers = [CaptionWorker(index, options, lambda: captioner, ME, load_encoder=lambda: encoder, variants=chat)
               for _ in range(3)]
    threads = [threading.Thread(target=worker.run) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    # Each current caption encoded once, each variants job asked once, by whichever worker claimed it.
    assert len(encoder.seen) == 36 and set(encoder.seen.values()) == {1}
    assert len(chat.asked) == 12 and set(chat.asked.values()) == {1}
    assert sql_rows(index, "SELECT count(*) FROM caption_embeddings") == [(36,)]
    assert sql_rows(index, "SELECT count(*) FROM images WHERE vectored_caption_id = caption_id") == [(36,)]
    assert sql_rows(index, "SELECT count(*) FROM variants") == [(24,)]
    assert sql_rows(index, "SELECT count(*) FROM variants GROUP BY caption_id HAVING count(*) != 2") == []
    assert sql_rows(index, "SELECT count(*) FROM jobs WHERE kind = 'variants'") == [(0,)]
    assert sql_rows(index, "SELECT count(*) FROM images WHERE vector_owner IS NOT NULL") == [(0,)]
    assert sql_rows(index, "SELECT sum(vectors_done), sum(variants_done), sum(images_done) FROM workers") == [
        (36, 12, 6)]
    assert sum(worker.totals.vectors for worker in workers) == 36
    assert {row.state for row in worker_rows(index)} == {"stopped"}


def test_a_lapsed_workers_vectors_pass_on_and_its_late_result_is_refused(index: Index, tmp_path: Path) -> None:
    _captioned(index, tmp_path / "photos", 5)
    stalled, other = register_worker(index, ME, LEASE, (VECTORS,)), register_worker(index, ME, LEASE, (VECTORS,))
    taken = claim_vectors(index, stalled, 10)
    assert len(taken) == 5 and claim_vectors(index, other, 10) == []  # all held
    assert [row.id for row in worker_rows(index) if row.kinds == "vectors"] == [other, stalled]
    _expire(index, stalled)
    release_lapsed(index)
    handed_on = claim_vectors(index, other, 10)
    assert handed_on == taken
    rows = [(claim.caption_id, claim.text) for claim in handed_on]
    assert store_claimed_vectors(index, Encoder(2.0), rows, lambda c: settle_vectors(c, other, handed_on)) == 5
    # The stalled worker comes back with its vectors: nothing stored, the takeover's stay.
    late = Encoder(9.0)
    assert store_claimed_vectors(index, late, rows, lambda c: settle_vectors(c, stalled, taken)) == 0
    assert len(late.seen) == 5  # it computed them, in vain
    vectors = from_blobs([row[0] for row in sql_rows(index, "SELECT vector FROM caption_embeddings")], 4)
    assert vectors.shape == (5, 4) and np.all(vectors == 2.0)
    assert claim_vectors(index, other, 10) == []  # all done


def test_a_lapsed_workers_variants_jobs_pass_on_and_its_late_result_is_refused(index: Index, tmp_path: Path) -> None:
    caption_ids = _captioned(index, tmp_path / "photos", 4)
    queue_variants(index, caption_ids, 2, "catchy")
    stalled, other = register_worker(index, ME, LEASE, (VARIANTS,)), register_worker(index, ME, LEASE, (VARIANTS,))
    taken = claim_variant_jobs(index, stalled, 10, utcnow())
    assert len(taken) == 4 and claim_variant_jobs(index, other, 10, utcnow()) == []
    # A watcher's own run leaves them to the worker that holds them.
    assert process_variant_jobs(index, Variants("watcher")).processed == 0
    _expire(index, stalled)
    release_lapsed(index)
    handed_on = claim_variant_jobs(index, other, 10, utcnow())
    assert sorted(handed_on) == sorted(taken)
    assert run_claimed_variant_jobs(index, Variants("fresh"), handed_on, other).done == 4
    # The stalled worker resumes: its jobs are gone or not its own; it asks nothing and stores nothing.
    late = Variants("stale")
    counts = run_claimed_variant_jobs(index, late, taken, stalled)
    assert counts.processed == 0 and not late.asked
    texts = [row[0] for row in sql_rows(index, "SELECT text FROM variants ORDER BY id")]
    assert len(texts) == 8 and all(text.startswith("fresh ") for text in texts)


def test_a_result_after_the_takeover_claimed_is_refused(index: Index, tmp_path: Path) -> None:
    """The stalled worker read its job before it lapsed and answers while the takeover holds it."""
    [caption_id] = _captioned(index, tmp_path / "photos", 1)
    queue_variants(index, [caption_id], 2, "catchy")
    stalled, other = register_worker(index, ME, LEASE, (VARIANTS,)), register_worker(index, ME, LEASE, (VARIANTS,))
    taken = claim_variant_jobs(index, stalled, 1, utcnow())

    class Stalls(Variants):
        def generate_variants(self, caption: str, n: int = 3, style: str = "catchy") -> VariantResult:
            _expire(index, stalled)  # the lease lapses while the call is in flight
            release_lapsed(index)
            assert claim_variant_jobs(index, other, 1, utcnow()) == taken
            return super().generate_variants(caption, n, style)

    counts = run_claimed_variant_jobs(index, Stalls("stale"), taken, stalled)
    assert (counts.lost, counts.done) == (1, 0)
    assert sql_rows(index, "SELECT count(*) FROM variants") == [(0,)]
    assert sql_rows(index, f"SELECT lease_owner FROM jobs WHERE id = {taken[0]}") == [(other,)]
    assert run_claimed_variant_jobs(index, Variants("fresh"), taken, other).done == 1


def test_a_worker_that_stops_gives_its_claims_back(index: Index, tmp_path: Path) -> None:
    caption_ids = _captioned(index, tmp_path / "photos", 3)
    queue_variants(index, caption_ids, 2, "catchy")
    worker_id = register_worker(index, ME, LEASE, (VECTORS, VARIANTS))
    assert len(claim_vectors(index, worker_id, 10)) == 3
    assert len(claim_variant_jobs(index, worker_id, 10, utcnow())) == 3
    assert compute_pending_vectors(index, encoder=Encoder()) == 0  # a scan leaves claimed pictures alone
    retire_worker(index, worker_id, files_done=0, images_done=0)
    assert sql_rows(index, "SELECT count(*) FROM images WHERE vector_owner IS NOT NULL") == [(0,)]
    assert sql_rows(index, "SELECT count(*) FROM jobs WHERE lease_owner IS NOT NULL") == [(0,)]
    assert compute_pending_vectors(index, encoder=Encoder()) == 3
    # A scan's vectors mark the pictures done for workers too.
    assert claim_vectors(index, register_worker(index, ME, LEASE, (VECTORS,)), 10) == []


def test_a_new_caption_needs_a_vector_again_and_a_watcher_leaves_vectors_to_workers(index: Index,
                                                                                    tmp_path: Path) -> None:
    [caption_id] = _captioned(index, tmp_path / "photos", 1)
    assert compute_pending_vectors(index, encoder=Encoder()) == 1
    with index.write() as connection:  # a text changed in place: the 0002 trigger drops its vector
        connection.exec_driver_sql(f"UPDATE captions SET text = 'a new text' WHERE id = {caption_id}")
    assert sql_rows(index, "SELECT vectored_caption_id FROM images") == [(None,)]
    worker_id = register_worker(index, ME, timedelta(seconds=60), (CAPTIONS, VECTORS))
    assert [claim.text for claim in claim_vectors(index, worker_id, 10)] == ["a new text"]
    assert active_worker_kinds(index) == {CAPTIONS, VECTORS}
    _expire(index, worker_id)
    assert active_worker_kinds(index) == set()  # a lapsed lease takes nothing


def test_kinds_of_work() -> None:
    assert worker_kinds(["variants", " Captions", "vectors", "captions"]) == [CAPTIONS, VECTORS, VARIANTS]
    with pytest.raises(ValueError, match="unknown kind of work thumbnails"):
        worker_kinds(["captions", "thumbnails"])
    with pytest.raises(ValueError, match="no kind of work"):
        worker_kinds([""])


def test_status_shows_what_workers_did_of_each_kind(index: Index, db: Path | str) -> None:
    from click.testing import CliRunner

    from alttext.cli import cli
    from alttext.index.leases import renew_lease

    both = register_worker(index, WorkerIdentity("box", 7, "planted"), LEASE, (CAPTIONS, VECTORS, VARIANTS))
    captions_only = register_worker(index, WorkerIdentity("box", 8, "planted"), LEASE)
    assert renew_lease(index, both, LEASE, files_done=3, images_done=2, vectors_done=41, variants_done=5)
    result = CliRunner().invoke(cli, ["--db", str(db), "status"], catch_exceptions=False)
    lines = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("worker:")}
    assert "2 images at" in lines[str(both)] and "41 vectors, 5 variants jobs," in lines[str(both)]
    assert "vectors" not in lines[str(captions_only)] and "variants" not in lines[str(captions_only)]
    [row] = [row for row in worker_rows(index) if row.id == both]
    assert (row.kinds, row.vectors_done, row.variants_done) == ("captions,vectors,variants", 41, 5)


def test_worker_refuses_an_unknown_kind_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from alttext.cli import cli

    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "index.sqlite3"), "worker", "--jobs", "captions,thumbs"])
    assert result.exit_code == 2
    assert "unknown kind of work thumbs (choose from captions, vectors, variants)" in result.output
    assert "Traceback" not in result.output


def test_claims_are_ranges_of_their_partial_indexes(index: Index) -> None:
    """10^4 pictures, 10 waiting for a vector, 10 due jobs among 10^4 parked: each claim reads its partial index
    (PostgreSQL needs the statistics on the expression of migration 0010 to see that few rows match)."""
    from sqlalchemy import select

    from alttext.index.leases import variants_queued, vector_pending
    from alttext.index.models import images, jobs

    count = 10_000
    series = ("generate_series(1, :n) AS g(n)" if index.dialect == "postgresql" else
              "(WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :n) SELECT n FROM g) AS g")
    now = "now()" if index.dialect == "postgresql" else "CURRENT_TIMESTAMP"
    with index.write() as connection:
        for statement in (
            f"""INSERT INTO images (id, pixel_hash, width, height, created_at)
                SELECT n, 'h' || n, 8, 8, {now} FROM {series}""",
            f"""INSERT INTO captions (id, image_id, text, source, status, created_at)
                SELECT n, n, 'c' || n, 'model', 'generated', {now} FROM {series}""",
            "UPDATE images SET caption_id = id, vectored_caption_id = CASE WHEN id > :n - 10 THEN NULL ELSE id END",
            f"""INSERT INTO jobs (kind, target_id, attempts, next_try_at, state, created_at)
                SELECT 'variants', n, 0, {now}, CASE WHEN n > :n - 10 THEN 'queued' ELSE 'failed' END, {now}
                FROM {series}""",
        ):
            connection.execute(text(statement), {"n": count})
        connection.exec_driver_sql("ANALYZE")
    with index.claim() as connection:
        for query, name in (
            (select(images.c.id).where(vector_pending(index.dialect), images.c.vector_owner.is_(None))
             .order_by(images.c.id).limit(64), "ix_images_vector_pending"),
            (select(jobs.c.id).where(variants_queued(), jobs.c.lease_owner.is_(None), jobs.c.next_try_at <= utcnow())
             .order_by(jobs.c.next_try_at, jobs.c.id).limit(4), "ix_jobs_variants_due"),
        ):
            compiled = query.compile(connection)
            explain = "EXPLAIN" if index.dialect == "postgresql" else "EXPLAIN QUERY PLAN"
            plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(f"{explain} {compiled}", (
                compiled.params if index.dialect == "postgresql" else tuple(compiled.params[key]
                                                                            for key in compiled.positiontup or ()))))
            assert name in plan, plan
    worker_id = register_worker(index, ME, LEASE, (VECTORS, VARIANTS))
    assert [claim.image_id for claim in claim_vectors(index, worker_id, 64)] == list(range(count - 9, count + 1))
    assert len(claim_variant_jobs(index, worker_id, 64, utcnow())) == 10


def test_a_watcher_leaves_vectors_and_variants_to_active_workers(index: Index, tmp_path: Path) -> None:
    from alttext.library.after_index import AfterIndexing

    caption_ids = _captioned(index, tmp_path / "photos", 2)
    queue_variants(index, caption_ids, 2, "catchy")
    chat = Variants("watcher")
    after = AfterIndexing(index, variants=chat, background=True)  # a watcher's background work (not started)
    worker_id = register_worker(index, ME, LEASE, (VECTORS, VARIANTS))
    assert after._vectors_work(lambda: False) == 0 and after._variants_work(lambda: False) == 0
    assert not chat.asked  # and no encoder was loaded: the vectors are still to do
    assert sql_rows(index, "SELECT count(*) FROM caption_embeddings") == [(0,)]
    retire_worker(index, worker_id, files_done=0, images_done=0)
    assert after._variants_work(lambda: False) == 2 and len(chat.asked) == 2  # taken back once none does


def test_claims_whose_rows_changed_while_held_are_released_too(index: Index, tmp_path: Path) -> None:
    """A claimed file that went missing and comes back, a claimed picture that lost its caption and gets a new
    one: once the holder lapses, neither may stay owned by it for ever (and so never be claimed again)."""
    caption_ids = _captioned(index, tmp_path / "photos", 2)
    _queue(index, tmp_path / "new", 2)
    stalled, other = register_worker(index, ME, LEASE, (CAPTIONS, VECTORS)), register_worker(index, ME, LEASE,
                                                                                              (CAPTIONS, VECTORS))
    files_taken = claim_files(index, stalled, 10)
    vectors_taken = claim_vectors(index, stalled, 10)
    assert len(files_taken) == 2 and len(vectors_taken) == 2
    gone_file, _path = files_taken[0]
    picture = vectors_taken[0].image_id
    with index.write() as connection:  # while held: the file is found missing, the picture loses its caption
        connection.execute(text(f"UPDATE files SET state = 'missing' WHERE id = {gone_file}"))
        connection.execute(text(f"UPDATE images SET caption_id = NULL WHERE id = {picture}"))
    _expire(index, stalled)
    assert release_lapsed(index) == 1  # one pending file handed on (the missing one is not pending)
    with index.write() as connection:  # then the file comes back, the picture gets its caption again
        connection.execute(text(f"UPDATE files SET state = 'pending' WHERE id = {gone_file}"))
        connection.execute(text(f"UPDATE images SET caption_id = {caption_ids[0]} WHERE id = {picture}"))
    assert sorted(file_id for file_id, _ in claim_files(index, other, 10)) == sorted(f for f, _ in files_taken)
    assert sorted(claim.image_id for claim in claim_vectors(index, other, 10)) == sorted(
        claim.image_id for claim in vectors_taken)
