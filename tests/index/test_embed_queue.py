"""The write-back queue (alttext.index.writeback): files whose current caption is not in them yet. A
write-back that failed is held back and retried with backoff, then parked; one that was skipped (a
person's text is in the file) is parked at once; a new caption, or a person running `alttext embed`,
tries again. The daemon's pipeline drains the queue and never retries a held file at every round."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import sql_rows
from sqlalchemy import select, update
from web.planted import plant

from alttext.index.captions import add_caption
from alttext.index.db import Index
from alttext.index.models import SOURCE_HUMAN, STATUS_EDITED, files, jobs, utcnow
from alttext.index.queries import index_status
from alttext.index.writeback import EMBED_MAX_ATTEMPTS, EmbedOptions, embed_queue, embed_targets, write_roots
from alttext.library.after_index import AfterIndexing

pytestmark = [pytest.mark.skipif(shutil.which("exiftool") is None, reason="a person's text is put in with exiftool"),
              pytest.mark.both_backends]  # SQLite and PostgreSQL (tests/conftest.py)


@pytest.fixture
def index(db: Path | str) -> Iterator[Index]:
    with Index(db) as opened:
        yield opened


@pytest.fixture
def library(index: Index, tmp_path: Path) -> Path:
    """ok.png, broken.png (garbage after it was indexed), person.png (a person's alt text added since)."""
    root = tmp_path / "photos"
    plant(index, root, {"ok.png": "A red kite.", "broken.png": "A blue boat.", "person.png": "A green hat."})
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-iptcCore:AltTextAccessibility=Our garden gate",
                    str(root / "person.png")], check=True)
    return root


def names(targets: list) -> list[str]:  # type: ignore[type-arg]
    return [Path(target.path).name for target in targets]


def embed_all(index: Index, targets: list) -> dict[str, str]:  # type: ignore[type-arg]
    within = write_roots(index, None)
    return {Path(t.path).name: str(r.status) for t, r in embed_targets(index, targets, EmbedOptions(), within=within)}


def due_now(index: Index) -> None:
    with index.write() as connection:
        connection.execute(update(jobs).values(next_try_at=utcnow() - timedelta(seconds=1)))


def test_failed_and_skipped_write_backs_are_held_back_not_retried_every_time(index: Index, library: Path) -> None:
    assert names(embed_queue(index)) == ["broken.png", "ok.png", "person.png"]
    assert (index_status(index)["embed_waiting"], index_status(index)["embed_held"]) == (3, 0)
    outcomes = embed_all(index, embed_queue(index))
    assert outcomes == {"broken.png": "failed", "ok.png": "written", "person.png": "skipped-existing"}
    assert embed_queue(index) == []  # the daemon's next round tries neither again
    assert (index_status(index)["embed_waiting"], index_status(index)["embed_held"]) == (0, 2)
    assert names(embed_queue(index, include_held=True)) == ["broken.png", "person.png"]  # `alttext embed`

    due_now(index)  # the failure's retry is due; the skip stays parked
    assert names(embed_queue(index)) == ["broken.png"]
    for _ in range(EMBED_MAX_ATTEMPTS - 1):
        due_now(index)
        assert embed_all(index, embed_queue(index)) == {"broken.png": "failed"}
    due_now(index)
    assert embed_queue(index) == []  # parked after its last attempt
    held = dict(sql_rows(index,
        "SELECT f.name, j.state || ' ' || j.attempts FROM jobs j JOIN files f ON f.id = j.target_id"
        " WHERE j.kind = 'embed'"))
    assert held == {"broken.png": f"parked {EMBED_MAX_ATTEMPTS}", "person.png": "parked 1"}

    with index.write() as connection:  # a person edits the alt text: a new caption is a new write-back
        image_id = connection.execute(select(files.c.image_id).where(files.c.path == str(library / "person.png"))
                                      ).scalar_one()
        add_caption(connection, image_id, text="Our garden gate.", raw_text=None, source=SOURCE_HUMAN,
                    status=STATUS_EDITED)
    assert names(embed_queue(index)) == ["person.png"]


def test_the_daemons_pipeline_drains_the_queue_and_says_when_work_is_left(index: Index, library: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import alttext.library.after_index as after_index

    monkeypatch.setattr(after_index, "EMBED_CHUNK", 2)
    pipeline = AfterIndexing(index, roots=[str(library)], write_back=EmbedOptions(), background=True)
    since = utcnow()
    assert pipeline.after_round(since, lambda: False) is True  # a chunk of 2: more may be waiting
    assert pipeline.after_round(since, lambda: False) is False  # the last one
    assert embed_queue(index) == []
    assert sql_rows(index, "SELECT count(*) FROM jobs WHERE kind = 'embed'") == [(2,)]
    assert pipeline.after_round(since, lambda: False) is False  # held files are not tried again at once
    assert sql_rows(index, "SELECT max(attempts) FROM jobs WHERE kind = 'embed'") == [(1,)]
    stopped = AfterIndexing(index, roots=[str(library)], write_back=EmbedOptions(), background=True)
    due_now(index)
    assert stopped.after_round(since, lambda: True) is True  # stopped before the queue was empty
