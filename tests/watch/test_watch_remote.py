"""``alttext watch --model openai:NAME``: the daemon captions (and with --describe describes) what arrives
through the fake vision server on 127.0.0.1 (tests/captioning/vision_server.py), records a photo the
server keeps failing as failed with its reason, and never writes the key into the index or its log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from captioning.vision_server import MODEL, VisionServer, solid
from variants.fake_llm_server import TEST_API_KEY, FakeLLMServer, Reply, echo_authorization
from watchkit import Daemon, IndexView, clean_env, wait_for

MODEL_REF = f"openai:{MODEL}"


@pytest.fixture
def vision() -> Iterator[VisionServer]:
    with FakeLLMServer() as chat:
        yield VisionServer(chat)


def photos(folder: Path, *colours: str) -> dict[str, Path]:
    made = {}
    for colour in colours:
        path = folder / f"{colour}.jpg"
        solid(colour, (1600, 1200)).save(folder / f".{colour}.tmp", format="JPEG", quality=95)
        (folder / f".{colour}.tmp").rename(path)  # arrives whole
        made[colour] = path
    return made


@pytest.mark.timeout(300)
def test_watch_captions_and_describes_what_arrives_and_records_what_fails(vision: VisionServer,
                                                                           tmp_path: Path) -> None:
    vision.behaviours["green"] = [Reply.error(500, "boom")]
    vision.behaviours["cyan"] = [echo_authorization(200)]
    root = tmp_path / "photos"
    root.mkdir()
    db = tmp_path / "index.sqlite3"
    env = clean_env(tmp_path / "home", ALTTEXT_CAPTION_ENDPOINT=vision.base_url,
                    ALTTEXT_CAPTION_API_KEY=TEST_API_KEY, ALTTEXT_CAPTION_DEADLINE="5")
    daemon = Daemon(db, [root], Path(MODEL_REF), "-v", "--describe", env=env, log=tmp_path / "daemon.log").start()
    try:
        daemon.wait_log(r"watching .*inotify")
        made = photos(root, "red", "green", "cyan")
        index = IndexView(db)
        red = wait_for(lambda: index.indexed(made["red"]), "red.jpg captioned", daemon=daemon)
        wait_for(lambda: index.state(made["green"]) == "failed", "green.jpg failed", daemon=daemon)
        cyan = wait_for(lambda: index.indexed(made["cyan"]), "cyan.jpg captioned", daemon=daemon)
        [caption] = index.query("SELECT text, description, model, params FROM captions WHERE image_id = ?",
                                red["image_id"])
        assert (caption["text"], caption["description"], caption["model"]) == (
            "A red square.", "A red square.", MODEL_REF)
        assert json.loads(caption["params"])["endpoint"] == vision.base_url
        assert index.file(made["green"])["error"].startswith("HTTP 500 from http://127.0.0.1:")
        [echoed] = index.query("SELECT text, raw_text, description FROM captions WHERE image_id = ?",
                               cyan["image_id"])
        assert "[redacted]" in echoed["text"] and TEST_API_KEY not in json.dumps(dict(echoed))
        assert daemon.stop() == 0, daemon.log()[-3000:]
    finally:
        daemon.kill()
    assert "green.jpg: HTTP 500 from http://127.0.0.1:" in daemon.log(all_runs=True)  # the log says why
    assert TEST_API_KEY not in daemon.log(all_runs=True)
    for path in (db, db.with_name(db.name + "-wal")):
        assert not path.exists() or TEST_API_KEY.encode() not in path.read_bytes()
    assert vision.violations == []
