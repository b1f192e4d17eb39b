"""Issue 6 end to end: ``alttext variants`` and the variants job queue on a real index, with the real
openai client talking to the fake chat server on 127.0.0.1 (tests/variants/fake_llm_server.py).

Captions come from the trained fixture captioner when it is there, else from the tiny random model
(the variants only need *a* caption per image).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import select, text
from variants.fake_llm_server import TEST_API_KEY, FakeLLMServer, Reply, echo_authorization, fake_llm  # noqa: F401

import alttext.index.variant_jobs as variant_jobs
from alttext.cli import cli
from alttext.index.db import Index
from alttext.index.models import jobs
from alttext.index.queries import describe_file
from alttext.index.scan import scan
from alttext.index.variant_jobs import (
    MAX_ATTEMPTS,
    enqueue_variants,
    job_state,
    process_variant_jobs,
    request_variants,
    retry_delay,
)
from alttext.variants import VariantClient

# Not imported from tests/conftest.py: with tests/variants/conftest.py also loaded, "conftest" is ambiguous.
FIXTURE_MODEL = Path(__file__).parent / "fixtures" / "shapes-captioner"


def run_alttext(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The installed console script (the real entry point, not CliRunner)."""
    script = Path(sys.executable).parent / "alttext"
    command = [str(script)] if script.exists() else [shutil.which("alttext") or "alttext"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


CHATTY = (
    "Sure! Here are 3 catchy captions for your photo:\n\n"
    '1. "Shapes that pop"\n'
    "2. **Colour me curious**\n"
    "3) Geometry, but make it fun\n\n"
    "Let me know if you'd like more!"
)
CLEAN = ["Shapes that pop", "Colour me curious", "Geometry, but make it fun"]


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx honours proxy variables: none may steer a request away from 127.0.0.1.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def model_dir(request: pytest.FixtureRequest) -> Path:
    if (FIXTURE_MODEL / "config.json").is_file():
        return FIXTURE_MODEL
    return request.getfixturevalue("tiny_model")


@pytest.fixture(scope="module")
def captioner(model_dir: Path):
    from alttext.captioning import Captioner

    return Captioner(str(model_dir), device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory, captioner) -> tuple[Path, Path]:
    """A library of three files, two distinct images (b.png's copy in sub/ shares its caption), scanned
    once into a template index that each test copies."""
    base = tmp_path_factory.mktemp("variants-library")
    root = base / "library"
    (root / "sub").mkdir(parents=True)
    for name, colour in (("a.png", (200, 30, 30)), ("b.png", (30, 60, 220))):
        image = Image.new("RGB", (64, 64), (255, 255, 255))
        image.paste(colour, (16, 16, 48, 48))
        image.save(root / name)
    shutil.copy(root / "b.png", root / "sub" / "b-copy.png")
    template = base / "template.sqlite3"
    with Index(template) as index:
        summary = scan(index, [str(root)], lambda: captioner, batch_size=4, max_pixels=10_000_000)
    assert (summary.new, summary.failed) == (3, 0)
    return root, template


@pytest.fixture
def library(scanned: tuple[Path, Path]) -> Path:
    return scanned[0]


@pytest.fixture
def db(tmp_path: Path, scanned: tuple[Path, Path]) -> Path:
    path = tmp_path / "index.sqlite3"
    for suffix in ("", "-wal"):
        if Path(f"{scanned[1]}{suffix}").exists():
            shutil.copy(f"{scanned[1]}{suffix}", f"{path}{suffix}")
    return path


@pytest.fixture
def env(fake_llm: FakeLLMServer) -> dict[str, str]:  # noqa: F811
    return {"OPENAI_API_KEY": TEST_API_KEY, "OPENAI_BASE_URL": fake_llm.base_url,
            "ALTTEXT_OPENAI_MODEL": "test-model"}


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI builds its client from settings; keep its HTTP backoff in milliseconds for the tests."""
    original = VariantClient.from_settings.__func__

    def from_settings(cls, settings, **kwargs):
        return original(cls, settings, **{"backoff_base": 0.001, "backoff_max": 0.002, "timeout": 5.0, **kwargs})

    monkeypatch.setattr(VariantClient, "from_settings", classmethod(from_settings))


def invoke(db: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["--db", str(db), *args], env=env, catch_exceptions=False)


def jobs_of(db: Path) -> list[dict]:
    with Index(db) as index, index.read() as connection:
        return [dict(row._mapping) for row in connection.execute(select(jobs).order_by(jobs.c.id))]


def variant_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT v.caption_id, v.style, v.text, v.llm_model, v.created_at, i.caption_id = v.caption_id "
            "FROM variants v JOIN captions c ON c.id = v.caption_id JOIN images i ON i.id = c.image_id "
            "ORDER BY v.id"
        ).fetchall()


# -- the command ------------------------------------------------------------------------------------


def test_variants_stores_exactly_n_clean_variants_per_image_with_provenance(
    db: Path, library: Path, env: dict[str, str], fake_llm: FakeLLMServer  # noqa: F811
) -> None:
    fake_llm.default = Reply.ok(CHATTY)
    result = invoke(db, "variants", str(library), "--n", "3", "--style", "catchy", "--json", env=env)
    assert result.exit_code == 0, result.output

    entries = json.loads(result.stdout)
    assert sorted(Path(e["path"]).name for e in entries) == ["a.png", "b-copy.png", "b.png"]
    for entry in entries:
        assert entry["error"] is None and entry["caption"]
        assert [v["text"] for v in entry["variants"]] == CLEAN
        assert {(v["style"], v["model"]) for v in entry["variants"]} == {("catchy", "test-model")}
        assert all(v["created_at"] for v in entry["variants"])
    # One chat call per distinct image, non-streaming, the caption passed as data.
    assert fake_llm.request_count == 2
    captions = {e["caption"] for e in entries}
    for request in fake_llm.chat_requests:
        assert request.json["stream"] is False and request.json["model"] == "test-model"
        assert "<caption>" in request.messages[1]["content"]
    assert {json.loads(r.messages[1]["content"].split("\n")[1]) for r in fake_llm.chat_requests} == captions

    rows = variant_rows(db)
    assert len(rows) == 2 * 3 and all(row[5] for row in rows)  # linked to each image's current caption
    assert {row[1:4] for row in rows} == {("catchy", t, "test-model") for t in CLEAN}
    assert jobs_of(db) == []  # done jobs leave no row

    shown = invoke(db, "show", str(library / "sub" / "b-copy.png"), "--json")
    assert shown.exit_code == 0
    assert [(v["text"], v["style"], v["model"]) for v in json.loads(shown.stdout)["variants"]] == [
        (t, "catchy", "test-model") for t in CLEAN
    ]
    plain = invoke(db, "show", str(library / "a.png"))
    assert all(f"[catchy] {t}" in plain.stdout for t in CLEAN)

    # Again: images that have their 3 catchy variants are skipped; --force asks again and replaces.
    again = invoke(db, "variants", str(library), env=env)
    assert again.exit_code == 0 and fake_llm.request_count == 2
    assert "2 already had catchy variants" in again.stdout
    fake_llm.default = Reply.ok("One more\nAnd another\nThird time lucky")
    forced = invoke(db, "variants", str(library / "a.png"), "--force", env=env)
    assert forced.exit_code == 0 and fake_llm.request_count == 3
    assert "  - Third time lucky" in forced.stdout
    assert len(variant_rows(db)) == 6
    # Another style is stored beside the first, with --model's name.
    other = invoke(db, "variants", str(library / "a.png"), "--style", "formal", "--n", "2", "--model", "m2",
                   "--json", env=env)
    assert other.exit_code == 0
    assert fake_llm.chat_requests[-1].json["model"] == "m2"
    assert [(v["style"], v["model"]) for v in json.loads(other.stdout)[0]["variants"]] == [("formal", "m2")] * 2
    assert len(json.loads(invoke(db, "show", str(library / "a.png"), "--json").stdout)["variants"]) == 5


def test_dry_run_prints_prompts_and_call_count_and_sends_nothing(
    db: Path, library: Path, fake_llm: FakeLLMServer  # noqa: F811
) -> None:
    # No key: a dry run needs none. The endpoint is set only to prove nothing reaches it.
    result = invoke(db, "variants", str(library), "--n", "4", "--style", "funny", "--dry-run",
                    env={"OPENAI_BASE_URL": fake_llm.base_url})
    assert result.exit_code == 0, result.output
    assert fake_llm.requests == []
    assert result.stdout.count("--- call ") == 2
    assert "4 new captions" in result.stdout and "<caption>" in result.stdout
    assert "2 chat call(s), at most 6 with top-ups" in result.stdout
    assert jobs_of(db) == [] and variant_rows(db) == []

    as_json = json.loads(invoke(db, "variants", str(library / "a.png"), "--dry-run", "--json").stdout)
    assert as_json["calls"] == 1 and as_json["prompts"][0]["messages"][0]["role"] == "system"


def test_no_key_is_one_line_and_a_non_zero_exit_touching_nothing(tmp_path: Path, library: Path) -> None:
    missing_db = tmp_path / "never-created.sqlite3"
    result = run_alttext("--db", str(missing_db), "variants", str(library), env={}, timeout=60)
    assert result.returncode != 0
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "OPENAI_API_KEY" in result.stderr
    assert not missing_db.exists()


def test_server_errors_until_retries_run_out_are_queued_scan_unaffected_then_retried(
    tmp_path: Path, db: Path, library: Path, model_dir: Path, env: dict[str, str], fake_llm: FakeLLMServer  # noqa: F811
) -> None:
    fake_llm.default = Reply.error(500, "upstream exploded")
    result = invoke(db, "variants", str(library / "a.png"), str(library / "b.png"), "--json", env=env)
    assert result.exit_code == 1
    entries = json.loads(result.stdout)
    assert all("HTTP 500" in e["error"] and e["variants"] == [] for e in entries)
    assert fake_llm.request_count == 2 * 4  # 1 try + 3 retries per image
    jobs = jobs_of(db)
    assert len(jobs) == 2
    for job in jobs:
        assert (job["kind"], job["state"], job["attempts"]) == ("variants", "queued", 1)
        assert "HTTP 500" in job["last_error"] and job["payload"] == {"n": 3, "style": "catchy"}
        wait = job["next_try_at"] - job["created_at"]
        assert timedelta(seconds=50) < wait < timedelta(seconds=70)

    # A scan is not affected by failed variant jobs.
    more = tmp_path / "more"
    more.mkdir()
    Image.new("RGB", (48, 48), (10, 200, 10)).save(more / "new.png")
    scanned = invoke(db, "scan", str(more), "--model", str(model_dir), "--json")
    assert scanned.exit_code == 0, scanned.output
    assert (json.loads(scanned.stdout)["new"], json.loads(scanned.stdout)["failed"]) == (1, 0)
    assert invoke(db, "scan", str(library), "--model", str(model_dir)).exit_code == 0

    # The server recovers; the next run retries at once (an explicit run does not wait for the backoff).
    fake_llm.default = Reply.ok(CHATTY)
    retried = invoke(db, "variants", str(library), env=env)
    assert retried.exit_code == 0, retried.output
    assert fake_llm.request_count == 2 * 4 + 2
    assert jobs_of(db) == [] and len(variant_rows(db)) == 6


def test_429_with_retry_after_then_success(
    db: Path, library: Path, env: dict[str, str], fake_llm: FakeLLMServer  # noqa: F811
) -> None:
    fake_llm.script(Reply.error(429, "slow down", headers={"Retry-After": "0.4"}), Reply.ok(CHATTY))
    result = invoke(db, "variants", str(library / "a.png"), "--json", env=env)
    assert result.exit_code == 0, result.output
    assert [v["text"] for v in json.loads(result.stdout)[0]["variants"]] == CLEAN
    first, second = fake_llm.chat_requests
    assert second.received_at - first.received_at >= 0.38


def test_request_cap_stops_calls_and_leaves_the_rest_queued(
    db: Path, library: Path, env: dict[str, str], fake_llm: FakeLLMServer  # noqa: F811
) -> None:
    fake_llm.default = Reply.ok(CHATTY)
    capped = {**env, "ALTTEXT_VARIANTS_MAX_REQUESTS": "1"}
    result = invoke(db, "variants", str(library), "--json", env=capped)
    assert result.exit_code == 1
    assert fake_llm.request_count == 1
    errors = [e["error"] for e in json.loads(result.stdout)]
    assert errors.count(None) in (1, 2)  # the done image (one or two paths)
    assert all("request cap" in e for e in errors if e)
    [job] = jobs_of(db)
    assert (job["state"], job["attempts"]) == ("queued", 0)  # the cap is no attempt
    # The same command continues where it stopped.
    result = invoke(db, "variants", str(library), env=capped)
    assert result.exit_code == 0, result.output
    assert fake_llm.request_count == 2 and jobs_of(db) == []


def test_api_key_never_reaches_the_index_the_output_the_logs_or_config(
    caplog: pytest.LogCaptureFixture, db: Path, library: Path, env: dict[str, str], fake_llm: FakeLLMServer  # noqa: F811
) -> None:
    # A server that echoes the key in its error messages: a 401 (permanent) for the first image, a 500
    # (retried within the run) for the second, then success.
    fake_llm.script(Reply.error(401, f"invalid api key {TEST_API_KEY}"), Reply.error(500, f"Bearer {TEST_API_KEY}"))
    fake_llm.default = Reply.ok(CHATTY)
    run = run_alttext("-vv", "--db", str(db), "variants", str(library), "--json", env=env, timeout=120)
    assert run.returncode == 1
    assert fake_llm.request_count == 3
    assert fake_llm.chat_requests[0].headers["authorization"] == f"Bearer {TEST_API_KEY}"
    by_name = {Path(e["path"]).name: e for e in json.loads(run.stdout)}
    assert "HTTP 401" in by_name["a.png"]["error"] and "[redacted]" in by_name["a.png"]["error"]
    assert by_name["b.png"]["error"] is None and len(by_name["b.png"]["variants"]) == 3
    assert "HTTP 500" in run.stderr and "[redacted]" in run.stderr  # the retry was logged, redacted
    [job] = jobs_of(db)
    assert job["state"] == "failed" and "[redacted]" in job["last_error"]  # 401: parked at once
    config = invoke(db, "config", env=env)
    config_json = invoke(db, "config", "--json", env=env)
    assert "set (hidden)" in config.stdout

    key = TEST_API_KEY.encode()
    assert key not in (run.stdout + run.stderr).encode()
    for run in (config, config_json):
        assert key not in run.output.encode()
    assert TEST_API_KEY not in caplog.text
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{db}{suffix}")
        if path.exists():
            assert key not in path.read_bytes(), path


def test_a_server_that_echoes_the_key_gets_it_stored_and_printed_nowhere(
    db: Path, library: Path, env: dict[str, str], fake_llm: FakeLLMServer  # noqa: F811
) -> None:
    # The first image's call gets a 401 quoting the Authorization header (parked at once); the other's
    # gets a 200 whose captions, model name and a response header quote it.
    fake_llm.script(echo_authorization(status=401))
    fake_llm.default = echo_authorization()
    run = run_alttext("-vv", "--db", str(db), "variants", str(library), "--json", env=env, timeout=120)
    assert run.returncode == 1, run.stderr
    assert [r.headers["authorization"] for r in fake_llm.chat_requests] == [f"Bearer {TEST_API_KEY}"] * 2
    entries = {Path(e["path"]).name: e for e in json.loads(run.stdout)}
    failed, stored = (entries["a.png"], entries["b.png"]) if entries["a.png"]["error"] else (
        entries["b.png"], entries["a.png"])
    assert "HTTP 401" in failed["error"] and "you sent Bearer [redacted]" in failed["error"]
    assert stored["error"] is None and len(stored["variants"]) == 3
    assert all("[redacted]" in v["text"] and "[redacted]" in v["model"] for v in stored["variants"])
    [job] = jobs_of(db)
    assert job["state"] == "failed" and "you sent Bearer [redacted]" in job["last_error"]
    shown = run_alttext("--db", str(db), "show", stored["path"], env=env)
    again = run_alttext("--db", str(db), "variants", str(library), env=env)  # re-arms the parked job: a 200

    key = TEST_API_KEY.encode()
    for output in (run, shown, again):
        assert key not in (output.stdout + output.stderr).encode()
    assert "[redacted]" in shown.stdout and "[redacted]" in again.stdout
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{db}{suffix}")
        if path.exists():
            assert key not in path.read_bytes(), path


@pytest.mark.timeout(120)
def test_a_silent_server_costs_the_deadline_setting_and_the_job_waits_for_the_next_run(
    db: Path, library: Path, env: dict[str, str], fake_llm: FakeLLMServer  # noqa: F811
) -> None:
    fake_llm.default = Reply.silent()
    result = invoke(db, "variants", str(library / "a.png"), "--json",
                    env={**env, "ALTTEXT_VARIANTS_DEADLINE": "1"})
    assert result.exit_code == 1
    [entry] = json.loads(result.stdout)
    assert "within 1 s (setting variants_deadline)" in entry["error"] and "queued" in entry["error"]
    assert fake_llm.request_count == 1
    [job] = jobs_of(db)
    assert (job["state"], job["attempts"]) == ("queued", 1) and "within 1 s" in job["last_error"]


# -- the queue, directly ----------------------------------------------------------------------------


@pytest.fixture
def index(db: Path):
    with Index(db) as opened:
        yield opened


def caption_ids(index: Index) -> list[int]:
    with index.read() as connection:
        return [row[0] for row in connection.execute(text("SELECT caption_id FROM images ORDER BY id"))]


@pytest.fixture
def client(fake_llm: FakeLLMServer):  # noqa: F811
    with VariantClient(fake_llm.base_url, TEST_API_KEY, "test-model", timeout=5, max_retries=0) as made:
        yield made


def test_enqueue_is_idempotent_per_caption_and_style(index: Index) -> None:
    first, second = caption_ids(index)
    with index.write() as connection:
        a = enqueue_variants(connection, first, 3, "catchy")
        assert enqueue_variants(connection, first, 5, "Catchy") == a
        b = enqueue_variants(connection, first, 3, "formal")
        c = enqueue_variants(connection, second, 3, "catchy")
        assert len({a, b, c}) == 3
        assert job_state(connection, a)["payload"] == {"n": 5, "style": "catchy"}


def test_backoff_schedule_and_parking_after_max_attempts(
    index: Index, library: Path, client: VariantClient, fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    fake_llm.default = Reply.error(503, "busy")
    [caption, _] = caption_ids(index)
    with index.write() as connection:
        job_id = enqueue_variants(connection, caption, 3, "catchy")

    clock = [variant_jobs.utcnow()]
    monkeypatch.setattr(variant_jobs, "utcnow", lambda: clock[0])
    for attempt in range(1, MAX_ATTEMPTS + 1):
        counts = process_variant_jobs(index, client)
        with index.read() as connection:
            job = job_state(connection, job_id)
        assert job["attempts"] == attempt and "HTTP 503" in job["last_error"]
        if attempt < MAX_ATTEMPTS:
            assert (counts.retrying, job["state"]) == (1, "queued")
            assert job["next_try_at"] == clock[0] + retry_delay(attempt)
            # Not due yet: nothing runs, no request.
            before = fake_llm.request_count
            clock[0] += retry_delay(attempt) - timedelta(seconds=1)
            assert process_variant_jobs(index, client).processed == 0 and fake_llm.request_count == before
            clock[0] += timedelta(seconds=1)
        else:
            assert (counts.failed, job["state"]) == (1, "failed")
    assert [retry_delay(a).total_seconds() for a in range(1, 6)] == [60, 120, 240, 480, 960]
    assert retry_delay(20) == timedelta(hours=6)
    assert fake_llm.request_count == MAX_ATTEMPTS
    clock[0] += timedelta(days=1)
    assert process_variant_jobs(index, client).processed == 0  # parked jobs stay parked

    # An explicit request re-arms it; the recovered server completes it.
    fake_llm.default = Reply.ok(CHATTY)
    with index.write() as connection:
        assert request_variants(connection, caption, 3, "catchy") == job_id
    counts = process_variant_jobs(index, client)
    assert counts.done == 1
    with index.read() as connection:
        assert job_state(connection, job_id) is None
    assert [v["text"] for v in describe_file(index, str(library / "a.png"))["variants"]] == CLEAN


def test_permanent_errors_park_at_once_and_obsolete_jobs_are_dropped(
    index: Index, client: VariantClient, fake_llm: FakeLLMServer  # noqa: F811
) -> None:
    fake_llm.default = Reply.error(400, "bad request")
    first, _ = caption_ids(index)
    with index.write() as connection:
        job_id = enqueue_variants(connection, first, 3, "catchy")
        gone = enqueue_variants(connection, 987654, 3, "catchy")
    counts = process_variant_jobs(index, client)
    assert (counts.failed, counts.dropped, counts.requests) == (1, 1, 1)
    with index.read() as connection:
        assert job_state(connection, job_id)["state"] == "failed"
        assert job_state(connection, gone) is None


def test_limit_should_stop_and_cap(index: Index, fake_llm: FakeLLMServer) -> None:  # noqa: F811
    fake_llm.default = Reply.ok(CHATTY)
    ids = caption_ids(index)
    with index.write() as connection:
        for caption in ids:
            enqueue_variants(connection, caption, 3, "catchy")
    with VariantClient(fake_llm.base_url, TEST_API_KEY, max_retries=0) as client:
        assert process_variant_jobs(index, client, should_stop=lambda: True).stopped
        assert process_variant_jobs(index, client, limit=1).done == 1
    with VariantClient(fake_llm.base_url, TEST_API_KEY, max_retries=0, max_requests=0) as capped:
        counts = process_variant_jobs(index, capped)
        assert counts.capped and counts.processed == 0
    assert fake_llm.request_count == 1
    [job] = jobs_of(Path(index.path))
    assert (job["state"], job["attempts"]) == ("queued", 0)


def test_no_write_transaction_is_held_during_a_call(index: Index, fake_llm: FakeLLMServer, client) -> None:  # noqa: F811
    locked: list[bool] = []

    def reply(_request) -> Reply:
        other = sqlite3.connect(index.path, timeout=0.2, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            locked.append(False)
        except sqlite3.OperationalError:
            locked.append(True)
        finally:
            other.close()
        return Reply.ok(CHATTY)

    fake_llm.default = reply
    with index.write() as connection:
        for caption in caption_ids(index):
            enqueue_variants(connection, caption, 3, "catchy")
    assert process_variant_jobs(index, client).done == 2
    assert locked == [False, False]
