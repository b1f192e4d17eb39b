"""A file seen by a scan but gone (deleted or renamed) before it was ever read is not a missing photo:
its row holds no caption, so the next scan drops it. A captioned file that goes away stays ``missing``
(its caption is precious: it comes back with the file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import sql_rows
from web.planted import plant, write_image

from alttext.index.db import Index
from alttext.index.ingest import Ingester
from alttext.index.queries import index_status
from alttext.index.reconcile import reconcile

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)


@pytest.fixture
def index(db: Path | str) -> Iterator[Index]:
    with Index(db) as opened:
        yield opened


def rows(index: Index) -> dict[str, tuple[str, int | None]]:
    """name -> (state, image_id), read with plain SQL."""
    found = sql_rows(index, "SELECT path, state, image_id FROM files")
    return {Path(bytes(path).decode()).name: (state, image_id) for path, state, image_id in found}


def test_files_gone_before_they_were_read_are_not_counted_missing(index: Index, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    plant(index, root, {"kept.png": "A red kite.", "captioned.png": "A blue boat."})
    write_image(root / "deleted.png", 10)
    write_image(root / "renamed.png", 11)
    write_image(root / "sub" / "folder-gone.png", 12)
    reconcile(index, [str(root)])  # seen: three new rows, pending, never read
    assert {name: state for name, (state, _) in rows(index).items()} == {
        "kept.png": "indexed", "captioned.png": "indexed", "deleted.png": "pending", "renamed.png": "pending",
        "folder-gone.png": "pending"}
    (root / "deleted.png").unlink()
    (root / "renamed.png").rename(root / "new-name.png")
    (root / "sub" / "folder-gone.png").unlink()
    (root / "sub").rmdir()
    (root / "captioned.png").unlink()  # a photo with a caption: missing, as always

    report = reconcile(index, [str(root)])

    after = rows(index)
    assert set(after) == {"kept.png", "captioned.png", "new-name.png"}
    assert after["captioned.png"][0] == "missing" and after["captioned.png"][1] is not None
    assert after["new-name.png"][0] == "pending"
    assert report.missing == 1 and report.dropped == 3
    assert index_status(index)["missing"] == 1


def test_a_file_ingest_found_vanished_is_dropped_by_the_next_scan(index: Index, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    write_image(root / "a.png", 1)
    write_image(root / "b.png", 2)
    reconcile(index, [str(root)])
    (root / "b.png").unlink()  # gone between the scan and the read: ingest marks it missing

    def no_model() -> object:
        raise AssertionError("only b.png's absence is under test: a.png is never captioned here")

    Ingester(index, no_model, batch_size=8, max_pixels=10_000_000, accept=lambda _id, path: path.endswith("b.png")
             ).run()
    assert rows(index)["b.png"] == ("missing", None)

    reconcile(index, [str(root)])

    assert "b.png" not in rows(index)
    assert index_status(index)["missing"] == 0


def test_a_failed_file_that_is_deleted_takes_its_retry_job_along(index: Index, tmp_path: Path) -> None:
    from alttext.index import file_retries

    root = tmp_path / "photos"
    root.mkdir()
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    reconcile(index, [str(root)])
    Ingester(index, lambda: None, batch_size=8, max_pixels=10_000_000).run()
    assert rows(index)["broken.jpg"][0] == "failed"
    assert file_retries.schedule_failed(index, base=60.0)
    (root / "broken.jpg").unlink()

    reconcile(index, [str(root)])

    assert rows(index) == {}
    assert sql_rows(index, "SELECT count(*) FROM jobs") == [(0,)]
    assert index_status(index)["missing"] == 0 and index_status(index)["failed"] == 0
