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


def embed_all(index: Index, targets: list, options: EmbedOptions | None = None) -> dict[str, str]:  # type: ignore[type-arg]
    options = options or EmbedOptions()
    within = write_roots(index, None)
    return {Path(t.path).name: str(r.status) for t, r in embed_targets(index, targets, options, within=within)}


WITH_DESCRIPTIONS = EmbedOptions(fields=frozenset({"alt", "extdescr"}))


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


def _extdescr(path: Path) -> str | None:
    import json

    out = subprocess.run(["exiftool", "-j", "-XMP-iptcCore:ExtDescrAccessibility", str(path)],
                         capture_output=True, text=True, check=True).stdout
    value = json.loads(out)[0].get("ExtDescrAccessibility")
    return str(value) if value is not None else None


def test_a_newer_description_beside_a_persons_edit_is_written_though_the_alt_text_is_the_same(
    index: Index, tmp_path: Path
) -> None:
    from alttext.index.models import SOURCE_MODEL

    root = tmp_path / "photos"
    plant(index, root, {"kite.png": "A red kite."})
    photo = root / "kite.png"
    with index.write() as connection:
        image_id = connection.execute(select(files.c.image_id)).scalar_one()
        add_caption(connection, image_id, text="A red kite.", raw_text="a red kite", source=SOURCE_MODEL,
                    description="A red kite against a grey sky.")
        add_caption(connection, image_id, text="Our kite on the dune.", raw_text=None, source=SOURCE_HUMAN,
                    status=STATUS_EDITED)  # current now; a person's edit carries no description
    assert embed_all(index, embed_queue(index), WITH_DESCRIPTIONS) == {"kite.png": "written"}
    assert _extdescr(photo) == "A red kite against a grey sky."
    assert embed_queue(index) == []
    with index.write() as connection:  # a re-caption with --describe: the person's edit stays current
        add_caption(connection, image_id, text="A kite.", raw_text="a kite", source=SOURCE_MODEL,
                    description="A red diamond kite with a long tail over sand dunes.")
    [target] = embed_queue(index)
    assert target.text == "Our kite on the dune." and target.description_id != target.embedded_description_id
    assert (index_status(index)["embed_waiting"], index_status(index)["embed_held"]) == (1, 0)
    assert embed_all(index, [target], WITH_DESCRIPTIONS) == {"kite.png": "written"}
    assert _extdescr(photo) == "A red diamond kite with a long tail over sand dunes."
    assert embed_queue(index) == [] and embed_queue(index, include_held=True) == []


def test_a_parked_file_is_tried_again_when_the_picture_gets_a_new_description(index: Index, library: Path) -> None:
    from alttext.index.models import SOURCE_MODEL

    embed_all(index, embed_queue(index))
    assert names(embed_queue(index, include_held=True)) == ["broken.png", "person.png"]
    with index.write() as connection:
        image_id = connection.execute(select(files.c.image_id).where(files.c.path == str(library / "person.png"))
                                      ).scalar_one()
        current = add_caption(connection, image_id, text="A person's hat.", raw_text=None, source=SOURCE_HUMAN,
                              status=STATUS_EDITED)
    assert names(embed_queue(index)) == ["person.png"]  # a new caption: tried again (as before)
    embed_all(index, embed_queue(index))
    assert embed_queue(index) == [] and current
    with index.write() as connection:  # a model description arrives beside the person's caption
        add_caption(connection, image_id, text="A hat.", raw_text="a hat", source=SOURCE_MODEL,
                    description="A green felt hat with a feather on a wooden peg.")
    assert names(embed_queue(index)) == ["person.png"]
