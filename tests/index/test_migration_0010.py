"""Migration 0010 on an index made at 0009: pictures whose current caption has a vector are done, the others wait
for one (and a worker can claim them), a vector dropped by an in-place edit makes its picture wait again;
jobs and workers keep their rows; and back down to 0009. On SQLite and PostgreSQL (docs/architecture.md §16)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from migration_kit import engine_for, migrate, rows
from sqlalchemy import Engine, text

from alttext.index.db import Index
from alttext.index.leases import WorkerIdentity, claim_vectors, register_worker

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py); empty_db: tests/index/conftest.py


def _columns(engine: Engine, table: str) -> set[str]:
    from sqlalchemy import inspect

    return {column["name"] for column in inspect(engine).get_columns(table)}


def test_an_index_at_0009_upgrades_its_vector_queue_and_downgrades(empty_db: str | Path) -> None:
    engine = engine_for(empty_db)
    migrate(engine, "upgrade", "0009")
    day = datetime(2024, 1, 1)
    with engine.begin() as connection:
        for statement in (
            *(f"INSERT INTO images (id, pixel_hash, width, height, created_at) VALUES ({i}, 'h{i}', 8, 8, :day)"
              for i in (1, 2, 3)),
            *(f"""INSERT INTO captions (id, image_id, text, source, status, created_at)
                  VALUES ({i}, {i}, 'caption {i}', 'model', 'generated', :day)""" for i in (1, 2)),
            "UPDATE images SET caption_id = id WHERE id IN (1, 2)",  # image 3 has no caption yet
            """INSERT INTO caption_embeddings (caption_id, model, dim, vector, created_at)
               VALUES (1, 'm', 1, :blob, :day)""",  # caption 1 has its vector, caption 2 has none
            """INSERT INTO jobs (kind, target_id, attempts, next_try_at, state, created_at)
               VALUES ('variants', 2, 0, :day, 'queued', :day)""",
            """INSERT INTO workers (host, pid, state, started_at, last_seen, lease_until, files_done, images_done)
               VALUES ('h', 1, 'stopped', :day, :day, :day, 5, 4)""",
        ):
            connection.execute(text(statement), {"day": day, "blob": b"\0\0\0\0"})
    migrate(engine, "upgrade", "0010")
    assert rows(engine, "SELECT id, caption_id, vectored_caption_id, vector_owner FROM images ORDER BY id") == [
        (1, 1, 1, None), (2, 2, None, None), (3, None, None, None)]
    assert rows(engine, "SELECT target_id, lease_owner, state FROM jobs") == [(2, None, "queued")]
    assert rows(engine, "SELECT kinds, files_done, images_done, vectors_done, variants_done FROM workers") == [
        ("captions", 5, 4, 0, 0)]  # what a worker of 0009 did: captions
    engine.dispose()

    with Index(empty_db) as index:  # at the head: a worker claims exactly the picture without a vector
        worker_id = register_worker(index, WorkerIdentity("h", 2, None), timedelta(minutes=1))
        assert [(claim.image_id, claim.text) for claim in claim_vectors(index, worker_id, 10)] == [(2, "caption 2")]
        with index.write() as connection:  # an in-place edit drops caption 1's vector (0002): it waits again
            connection.exec_driver_sql("UPDATE captions SET text = 'edited' WHERE id = 1")
        assert [claim.image_id for claim in claim_vectors(index, worker_id, 10)] == [1]

    engine = engine_for(empty_db)
    migrate(engine, "downgrade", "0009")
    assert not {"vectored_caption_id", "vector_owner"} & _columns(engine, "images")
    assert "lease_owner" not in _columns(engine, "jobs")
    assert not {"kinds", "vectors_done", "variants_done"} & _columns(engine, "workers")
    assert rows(engine, "SELECT count(*) FROM images") == [(3,)]
    migrate(engine, "upgrade", "head")  # and up again
    assert rows(engine, "SELECT id, vectored_caption_id FROM images ORDER BY id") == [(1, None), (2, None), (3, None)]
    engine.dispose()
