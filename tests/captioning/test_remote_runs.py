"""``--model openai:NAME`` through the installed command: ``caption`` and ``scan`` (``watch``: tests/watch/
test_watch_remote.py) against the
fake vision server on 127.0.0.1. Every photo ends captioned or failed with its own error (and a failed one
is captioned by a later run once the server behaves); the key appears nowhere in the index, the logs or
the output, though the server got it with every request."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import run_alttext
from variants.fake_llm_server import TEST_API_KEY, FakeLLMServer, Reply, echo_authorization
from vision_server import MODEL, VisionServer, solid

MODEL_REF = f"openai:{MODEL}"


@pytest.fixture
def vision() -> Iterator[VisionServer]:
    with FakeLLMServer() as chat:
        yield VisionServer(chat)


def environment(server: VisionServer, **settings: str) -> dict[str, str]:
    env = {"ALTTEXT_MODEL": MODEL_REF, "ALTTEXT_CAPTION_ENDPOINT": server.base_url,
           "ALTTEXT_CAPTION_API_KEY": TEST_API_KEY, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    env.update({f"ALTTEXT_{name.upper()}": value for name, value in settings.items()})
    return env


def photos(folder: Path, *colours: str) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for colour in colours:
        solid(colour, (1600, 1200)).save(folder / f"{colour}.jpg", quality=95)
        made[colour] = folder / f"{colour}.jpg"
    return made


def no_key_in_files(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            assert TEST_API_KEY.encode() not in path.read_bytes(), f"the key is in {path.name}"


HOSTILE = {
    "red": [Reply.error(429, "slow down", headers={"Retry-After": "1"}), Reply.ok("A red square.")],
    "green": [Reply.error(500, "boom")],
    "blue": [Reply(200, body=b"<html>garbage</html>")],
    "yellow": [Reply.ok("A yellow square.").dripping(0.3)],
    "purple": [Reply.huge(50 * 1024 * 1024)],
    "orange": [Reply.ok("I'm sorry, I can't help with that.")],
    "cyan": [echo_authorization(401)],
}


def test_caption_prints_each_images_caption_or_error_and_never_the_key(vision: VisionServer, tmp_path: Path) -> None:
    vision.behaviours.update(HOSTILE)
    made = photos(tmp_path / "in", *HOSTILE, "pink")
    result = run_alttext("caption", "-v", "-v", *map(str, made.values()),
                         env=environment(vision, caption_deadline="2", caption_max_reply_bytes="65536"))

    assert result.returncode == 1, result.stderr[-3000:]
    out = {line.split("\t")[0]: line.split("\t")[1] for line in result.stdout.splitlines()}
    assert out == {str(made["red"]): "A red square.", str(made["pink"]): "A pink square."}
    errors = {line.split(": error: ")[0]: line.split(": error: ")[1]
              for line in result.stderr.splitlines() if ": error: " in line}
    assert errors[str(made["green"])].startswith("HTTP 500 from http://127.0.0.1:")
    assert errors[str(made["blue"])].startswith("malformed reply from")
    assert "within 2 s (setting caption_deadline)" in errors[str(made["yellow"])]
    assert "caption_max_reply_bytes" in errors[str(made["purple"])]
    assert errors[str(made["orange"])].startswith("the model declined")
    assert errors[str(made["cyan"])].startswith("HTTP 401") and "[redacted]" in errors[str(made["cyan"])]
    assert TEST_API_KEY not in result.stdout + result.stderr
    assert "DEBUG httpcore2" in result.stderr and "X-Echo-Authorization" in result.stderr  # -v -v logs the HTTP layer
    assert vision.violations == []
    assert all(seen.request.headers["authorization"] == f"Bearer {TEST_API_KEY}" for seen in vision.seen)


@pytest.mark.timeout(300)
def test_scan_captions_or_fails_every_photo_and_a_later_scan_finishes_the_job(vision: VisionServer,
                                                                               tmp_path: Path) -> None:
    vision.behaviours.update(HOSTILE)
    made = photos(tmp_path / "photos", *HOSTILE, "pink", "brown")
    db = tmp_path / "index.sqlite3"
    env = environment(vision, caption_deadline="2", caption_max_reply_bytes="65536", describe="true")

    first = run_alttext("--db", str(db), "scan", "-v", str(tmp_path / "photos"), env=env)
    assert first.returncode == 1, first.stderr[-3000:]  # some files failed
    assert TEST_API_KEY not in first.stdout + first.stderr

    rows = read_files(db)
    assert set(rows) == {path.name for path in made.values()}
    captioned = {name for name, row in rows.items() if row["state"] == "indexed"}
    assert captioned == {"red.jpg", "pink.jpg", "brown.jpg"}
    for name, row in rows.items():  # every other photo: failed, with its own reason, and no caption
        if name not in captioned:
            assert row["state"] == "failed" and row["error"], (name, dict(row))
            assert row["text"] is None
    assert rows["green.jpg"]["error"].startswith("HTTP 500")
    assert "caption_deadline" in rows["yellow.jpg"]["error"]
    red = rows["red.jpg"]
    assert (red["text"], red["model"], red["source"]) == ("A red square.", MODEL_REF, "model")
    params = json.loads(red["params"])
    assert params["endpoint"] == vision.base_url and params["prompt"].startswith("Write alt text")
    assert params["description_prompt"].startswith("Describe")
    assert red["description"] == "A red square."  # the described text, from the second prompt
    no_key_in_files(db, db.with_name(db.name + "-wal"))

    # The server recovers: the failed photos are still in the queue, and the next scan captions them.
    vision.behaviours.clear()
    second = run_alttext("--db", str(db), "scan", str(tmp_path / "photos"), env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    rows = read_files(db)
    assert {row["state"] for row in rows.values()} == {"indexed"}
    assert all(row["text"] == f"A {name.split('.')[0]} square." for name, row in rows.items())
    show = run_alttext("--db", str(db), "show", str(made["cyan"]), env=env)
    assert show.returncode == 0 and MODEL_REF in show.stdout and TEST_API_KEY not in show.stdout
    no_key_in_files(db, db.with_name(db.name + "-wal"))


def read_files(db: Path) -> dict[str, sqlite3.Row]:
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    try:
        rows = connection.execute(
            "SELECT f.name, f.state, f.error, c.text, c.model, c.source, c.params, c.description FROM files f"
            " LEFT JOIN images i ON i.id = f.image_id LEFT JOIN captions c ON c.id = i.caption_id").fetchall()
    finally:
        connection.close()
    return {row["name"]: row for row in rows}



@pytest.mark.timeout(120)
def test_ctrl_c_stops_caption_at_once_while_the_server_is_silent(vision: VisionServer, tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    from helpers import alttext_command

    vision.behaviours.update({colour: [Reply.silent()] for colour in ("red", "green")})
    made = photos(tmp_path / "in", "red", "green")
    process = subprocess.Popen([*alttext_command(), "caption", *map(str, made.values())], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, **environment(vision, caption_deadline="90")})
    try:
        end = time.monotonic() + 60
        while len(vision.seen) < 2 and time.monotonic() < end:
            time.sleep(0.05)
        assert len(vision.seen) == 2, "both photos should be in flight"
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 130, err[-2000:]
        assert time.monotonic() - started < 5  # not the 90 s deadline
    finally:
        process.kill()
        process.wait()
