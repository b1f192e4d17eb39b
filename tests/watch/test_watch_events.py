"""``alttext watch`` with real inotify in temp folders: one daemon (the installed command, tiny model)
watches two roots for the whole module; each test works in its own subfolder and waits for the index
(read with plain sqlite3 or psycopg) to show the outcome. The module runs once per backend: SQLite, then a
PostgreSQL database (tests/conftest.py, ``module_db``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import PngImagePlugin
from variants.fake_llm_server import TEST_API_KEY, FakeLLMServer
from watchkit import Daemon, IndexView, alttext_command, clean_env, noise_image, png_bytes, wait_for, write_photo

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)


@dataclass
class World:
    a: Path  # watched
    b: Path  # watched too
    outside: Path  # not watched, same file system
    db: Path | str
    index: IndexView
    daemon: Daemon

    def indexed(self, path: Path, what: str | None = None):  # -> sqlite3.Row
        return wait_for(lambda: self.index.indexed(path), what or f"{path.name} indexed", daemon=self.daemon)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, module_db: Path | str):
    base = tmp_path_factory.mktemp("watch-events")
    a, b, outside = base / "A", base / "B", base / "outside"
    for folder in (a, b, outside):
        folder.mkdir()
    db = module_db
    with FakeLLMServer() as chat:  # --variants talks to a real HTTP server on 127.0.0.1
        env = clean_env(base / "home", OPENAI_BASE_URL=chat.base_url, OPENAI_API_KEY=TEST_API_KEY)
        daemon = Daemon(db, [a, b], tiny_model, "-v", "--variants", env=env, log=base / "daemon.log").start()
        daemon.wait_log(r"watching .*inotify")
        yield World(a, b, outside, db, IndexView(db), daemon)
        assert daemon.stop() == 0, daemon.log()[-3000:]
    assert IndexView(db).integrity() == "ok"


def test_a_new_photo_is_captioned(world: World) -> None:
    photo = write_photo(world.a / "create" / "new.png", 1)
    row = world.indexed(photo)
    assert world.index.captions_of(row["image_id"]) == 1
    assert world.index.image(row["image_id"])["width"] == 48


def test_new_captions_get_creative_variants_in_the_background(world: World) -> None:
    pytest.importorskip("alttext.index.variant_jobs", reason="this build has no variants job queue")
    photo = write_photo(world.a / "variants" / "v.png", 11)
    row = world.indexed(photo)
    caption_id = world.index.image(row["image_id"])["caption_id"]
    wait_for(lambda: world.index.count("SELECT count(*) FROM variants WHERE caption_id = ?", caption_id) >= 1,
             "variants stored", daemon=world.daemon)
    assert TEST_API_KEY not in world.daemon.log()


def test_a_slow_copy_is_captioned_once_and_complete(world: World) -> None:
    target = world.a / "slow" / "big.png"
    target.parent.mkdir()
    data = png_bytes(2, size=256)
    chunks = [data[i:i + len(data) // 8 + 1] for i in range(0, len(data), len(data) // 8 + 1)]
    with open(target, "wb") as handle:  # one open file, written over ~3 s, like a slow copy
        for chunk in chunks:
            handle.write(chunk)
            handle.flush()
            time.sleep(0.35)
            assert world.index.state(target) in (None, "pending"), "read before it was complete"
    row = world.indexed(target)
    image = world.index.image(row["image_id"])
    assert (image["width"], image["height"], row["size"]) == (256, 256, len(data))
    assert world.index.captions_of(row["image_id"]) == 1
    # With -v, every failed or "still changing" read of a file is logged with its path: there was none.
    assert "big.png" not in world.daemon.log()


def test_an_atomic_save_replaces_the_picture(world: World) -> None:
    photo = write_photo(world.a / "atomic" / "photo.png", 3)
    first = world.indexed(photo)
    temp = photo.with_name(".photo.png.tmp-4711")  # editors and rsync: write a temp file, rename it over
    noise_image(4).save(temp, format="PNG")
    os.replace(temp, photo)
    second = wait_for(lambda: (row := world.index.indexed(photo)) and row["image_id"] != first["image_id"] and row,
                      "the new picture indexed", daemon=world.daemon)
    assert world.index.captions_of(second["image_id"]) == 1
    assert second["id"] == first["id"]  # the same file, now showing another image
    assert world.index.file(temp) is None


def test_a_rename_keeps_the_caption_without_a_model_call(world: World) -> None:
    before = write_photo(world.a / "rename" / "before.png", 5)
    row = world.indexed(before)
    after = before.with_name("after.png")
    before.rename(after)
    moved = world.indexed(after)
    assert (moved["id"], moved["image_id"]) == (row["id"], row["image_id"])  # the row moved with the file
    assert world.index.file(before) is None
    assert world.index.captions_of(row["image_id"]) == 1


def test_a_move_between_watched_folders_keeps_the_caption(world: World) -> None:
    source = write_photo(world.a / "move" / "m.png", 6)
    row = world.indexed(source)
    target = world.b / "from-a" / "m.png"
    target.parent.mkdir()
    source.rename(target)
    moved = world.indexed(target)
    assert moved["image_id"] == row["image_id"]
    assert world.index.captions_of(row["image_id"]) == 1
    assert world.index.state(source) in (None, "missing")


def test_a_photo_moved_out_and_back_keeps_its_caption(world: World) -> None:
    photo = write_photo(world.a / "roundtrip" / "r.png", 7)
    row = world.indexed(photo)
    away = world.outside / "r.png"
    photo.rename(away)
    wait_for(lambda: world.index.state(photo) == "missing", "r.png missing", daemon=world.daemon)
    away.rename(photo)
    back = world.indexed(photo, "r.png indexed again")
    assert (back["id"], back["image_id"]) == (row["id"], row["image_id"])
    assert world.index.captions_of(row["image_id"]) == 1


def test_a_deleted_photo_is_marked_missing(world: World) -> None:
    photo = write_photo(world.a / "delete" / "d.png", 8)
    world.indexed(photo)
    photo.unlink()
    wait_for(lambda: world.index.state(photo) == "missing", "d.png missing", daemon=world.daemon)


def test_a_folder_of_200_photos_moved_in_with_a_corrupt_one(world: World) -> None:
    staging = world.outside / "card"
    for number in range(200):
        write_photo(staging / f"IMG_{number:04d}.png", 1000 + number)
    (staging / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(500))
    target = world.a / "card"
    staging.rename(target)  # all at once
    folder = os.fsencode(str(target))
    wait_for(lambda: world.index.count("SELECT count(*) FROM files WHERE dir = ? AND state = 'indexed'", folder) == 200,
             "200 photos indexed", daemon=world.daemon)
    broken = wait_for(lambda: (row := world.index.file(target / "broken.jpg")) and row["state"] == "failed" and row,
                      "broken.jpg failed", daemon=world.daemon)
    assert "decode" in broken["error"] or "image" in broken["error"]
    assert world.index.count("SELECT count(DISTINCT image_id) FROM files WHERE dir = ? AND state = 'indexed'",
                             folder) == 200
    world.daemon.wait_log(r"failed: .*broken\.jpg: .*retrying in")
    jobs = world.index.query("SELECT * FROM jobs WHERE kind = 'retry-file' AND target_id = ?", broken["id"])
    assert len(jobs) == 1 and jobs[0]["state"] == "queued"
    status = subprocess.run([*alttext_command(), "--db", str(world.db), "status", "--json"], capture_output=True,
                            text=True, timeout=120, env=world.daemon.env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["failed"] == 1  # visible while the daemon runs


def test_a_metadata_only_change_costs_no_model_call(world: World) -> None:
    photo = write_photo(world.a / "meta" / "m.png", 9)
    row = world.indexed(photo)
    text = PngImagePlugin.PngInfo()
    text.add_text("Description", "written by another program")
    noise_image(9).save(photo, pnginfo=text)  # new bytes, same pixels
    updated = wait_for(lambda: (new := world.index.indexed(photo)) and new["size"] != row["size"] and new,
                       "m.png re-read", daemon=world.daemon)
    assert updated["image_id"] == row["image_id"]
    assert world.index.captions_of(row["image_id"]) == 1


def test_an_inotify_overflow_triggers_a_rescan(world: World) -> None:
    """Stop the daemon, queue more events than the kernel keeps (fs.inotify.max_queued_events), drop a
    photo in a new folder meanwhile: its events are lost, the rescan after the overflow finds it."""
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    if limit > 100_000:
        pytest.skip(f"fs.inotify.max_queued_events is {limit}: too many events to overflow quickly")
    junk = world.a / "junk"
    junk.mkdir()
    time.sleep(1)  # let the observer add its watch on the new folder
    os.kill(world.daemon.pid, signal.SIGSTOP)
    try:
        for number in range(limit // 3 + 500):  # create, close, delete: three events each
            path = junk / f"{number}.txt"
            path.write_bytes(b"")
            path.unlink()
        late = write_photo(world.a / "during-overflow" / "late.png", 10)
    finally:
        os.kill(world.daemon.pid, signal.SIGCONT)
    world.daemon.wait_log("inotify queue overflowed")
    world.daemon.wait_log("inotify queue overflow scan")
    world.indexed(late)
    broken = world.index.file(world.a / "card" / "broken.jpg")
    assert (broken["state"], broken["attempts"]) == ("failed", 1)  # the rescan did not cut its backoff short
