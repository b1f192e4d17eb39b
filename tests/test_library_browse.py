"""What a browser needs from ``alttext.Library``: pages of photos by cursor, photos by id, thumbnails from
a bounded cache, undo without a session, retry of failed files, captions of uploads, recent activity."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image
from test_library import PICTURES, draw

from alttext import Library
from alttext.library import PhotoUnavailable
from alttext.thumbnails import ThumbnailCache

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)


@pytest.fixture
def library(tmp_path: Path, shapes_model: Path, db: Path | str) -> Library:
    photos = tmp_path / "photos"
    for name, (shapes, background) in PICTURES.items():
        draw(photos / name, shapes, background)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    library = Library(db, model=str(shapes_model), cache_dir=str(tmp_path / "cache"),
                      upload_folder=str(tmp_path / "uploads"))
    library.scan([str(photos)])
    yield library
    library.close()


def test_pages_follow_the_cursor_through_every_file_once(library: Library) -> None:
    seen, after = [], None
    while True:
        page = library.browse(after=after, limit=2)
        seen += [card.name for card in page.items]
        if page.next_after is None:
            break
        after = page.next_after
    assert sorted(seen) == sorted([*PICTURES, "broken.jpg"])  # failed files are listed, with their reason
    failed = library.browse(only="failed").items
    assert [card.name for card in failed] == ["broken.jpg"] and failed[0].error
    assert library.browse(only="missing-alt").items == []
    assert library.browse("red circle", mode="words").items[0].name == "red-circle.jpg"
    assert library.browse(after="not hex").items  # a garbled cursor starts at the beginning


def test_photos_and_thumbnails_are_reached_by_id_only(library: Library, tmp_path: Path) -> None:
    card = next(card for card in library.browse().items if card.name == "red-circle.jpg")
    photo = library.photo(card.file_id)
    assert photo is not None and photo["file_id"] == card.file_id and "circle" in photo["alt_text"].lower()
    assert photo["lint"] == []
    thumb = library.thumbnail(card.file_id, 64)
    assert Image.open(io.BytesIO(thumb)).size[0] <= 64
    cached = list((tmp_path / "cache" / "thumbnails").iterdir())
    assert len(cached) == 1 and cached[0].read_bytes() == thumb
    assert library.thumbnail(card.file_id, 64) == thumb  # a hit
    for bad in (0, -1, 10**9):
        assert library.photo(bad) is None
        with pytest.raises(PhotoUnavailable):
            library.thumbnail(bad)
    broken = library.browse(only="failed").items[0]
    with pytest.raises(PhotoUnavailable, match="not decoded"):
        library.thumbnail(broken.file_id)


def test_undo_last_reverses_an_approval_then_an_edit(library: Library) -> None:
    path = next(card.path for card in library.browse().items if card.name == "blue-square.png")
    model_text = library.show(path)["alt_text"]
    library.edit(path, "A blue square on a black card.")
    library.approve(path)
    assert library.undo_last(path) == "approve"
    assert library.show(path)["status"] == "edited"
    assert library.undo_last(path) == "edit"
    assert library.show(path)["alt_text"] == model_text and library.show(path)["status"] == "generated"
    assert library.undo_last(path) is None  # nothing a person did is left


def test_retry_puts_a_failed_file_back_in_the_queue(library: Library) -> None:
    broken = library.browse(only="failed").items[0]
    assert library.retry(broken.path) is True
    assert library.show(broken.path)["state"] == "pending"
    assert library.retry(broken.path) is False  # not failed any more
    assert library.activity()["pending"] == 1


def test_uploads_are_captioned_without_being_kept_unless_added(library: Library, tmp_path: Path) -> None:
    red = (tmp_path / "photos" / "red-circle.jpg").read_bytes()
    results = library.caption_uploads([("mine.jpg", red), ("junk.png", b"\x89PNG\r\n\x1a\n junk")])
    assert results[0].ok and "red circle" in (results[0].alt_text or "").lower() and results[0].seconds is not None
    assert not results[1].ok and results[1].error
    assert not (tmp_path / "uploads").exists()
    kept = library.add_upload("../../evil/mine.jpg", red)
    assert os.path.dirname(kept) == str(tmp_path / "uploads") and os.path.basename(kept) == "mine.jpg"
    assert library.add_upload("mine.jpg", red).endswith("mine-2.jpg")  # never over another file
    assert library.show(kept)["state"] == "indexed"
    activity = library.activity()
    assert activity["captioned_last_hour"] >= len(PICTURES) and activity["recent_failures"][0]["path"].endswith(
        "broken.jpg")


def test_the_thumbnail_cache_stays_under_its_cap_oldest_out_first(tmp_path: Path) -> None:
    cache = ThumbnailCache(tmp_path / "thumbs", max_bytes=3_000)
    picture = Image.effect_noise((64, 64), 60).convert("RGB")
    keys = [f"{i:016x}" for i in range(8)]
    for key in keys:
        cache.get(key, 64, lambda: picture)
    names = sorted(path.name for path in (tmp_path / "thumbs").iterdir())
    assert sum(path.stat().st_size for path in (tmp_path / "thumbs").iterdir()) <= 3_000
    assert names and f"{keys[-1]}-64.jpg" in names and f"{keys[0]}-64.jpg" not in names
    with pytest.raises(ValueError):
        cache.get("../../etc/passwd", 64, lambda: picture)
