"""Every command's rough edges (issue 14): review never approves on Enter and shows the picture on
request; a bad --device, a missing output folder or config file is one line and exit 2; global options
after the subcommand; Ctrl-C is exit 130 with what was kept, everywhere; a file that stays corrupt stays
counted as failed."""

from __future__ import annotations

import base64
import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import click
import pytest
from planted import plant, write_image

from alttext.cli import COMMANDS
from alttext.index.db import Index
from alttext.index.queries import describe_file
from alttext.index.reconcile import MAX_ATTEMPTS

FIXTURE_MODEL = Path(__file__).parents[1] / "fixtures" / "shapes-captioner"


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output and "Aborted!" not in output, output


# -- review -------------------------------------------------------------------------------------------------

@pytest.fixture
def one_photo(index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ALTTEXT_CACHE_DIR", str(tmp_path / "cache"))  # thumbnails stay inside the test
    plant(index, tmp_path / "lib", {"kite.png": "a red kite over a hill"})
    return tmp_path / "lib" / "kite.png"


@pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)
def test_review_enter_alone_approves_nothing(index: Index, one_photo: Path, invoke) -> None:
    result = invoke("review", input="\n\n\nq\n")
    assert result.exit_code == 0, result.output
    assert describe_file(index, str(one_photo))["status"] == "generated"
    assert "Enter alone does nothing" in result.output and "accepted 0" in result.output
    assert "alttext serve" in result.output and "/review" in result.output  # the browser app shows pictures
    assert invoke("review", input="x\na\n").output.count("unknown key 'x'") == 1
    assert describe_file(index, str(one_photo))["status"] == "approved"  # the a key does


def _fake_viewer(folder: Path) -> Path:
    """xdg-open (and macOS's open) that writes its arguments to a file, one per line."""
    folder.mkdir()
    record = folder / "opened.txt"
    for name in ("xdg-open", "open"):
        script = folder / name
        script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}.tmp" && mv "{record}.tmp" "{record}"\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return record


@pytest.mark.both_backends
def test_review_view_opens_the_photo_in_the_system_viewer(one_photo: Path, tmp_path: Path, invoke,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    record = _fake_viewer(tmp_path / "bin")
    monkeypatch.setenv("PATH", os.pathsep.join([str(tmp_path / "bin"), "/usr/bin", "/bin"]))  # ours first
    result = invoke("review", input="v\nq\n")
    assert result.exit_code == 0, result.output
    assert "opened in the system viewer" in result.output
    deadline = time.monotonic() + 10
    while not record.exists() and time.monotonic() < deadline:  # the viewer runs on its own
        time.sleep(0.05)
    assert record.read_text() == f"{one_photo}\n"  # one argument: the path, never shell text


@pytest.mark.both_backends
def test_review_view_without_a_viewer_is_one_line(one_photo: Path, tmp_path: Path, invoke,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = invoke("review", input="v\nq\n")
    assert result.exit_code == 0 and "no system viewer found" in result.output
    _no_traceback(result.output)


@pytest.mark.both_backends
@pytest.mark.parametrize(("environment", "start"), [
    ({"KITTY_WINDOW_ID": "1"}, "\x1b_Ga=T,f=100"),
    ({"TERM_PROGRAM": "iTerm.app"}, "\x1b]1337;File=inline=1;"),
    ({}, None),
], ids=["kitty", "iterm2", "plain"])
def test_review_picture_draws_a_thumbnail_where_the_terminal_can(
    one_photo: Path, invoke, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], start: str | None
) -> None:
    for name in ("KITTY_WINDOW_ID", "TERM_PROGRAM", "LC_TERMINAL", "TMUX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    result = invoke("review", input="p\nq\n")
    assert result.exit_code == 0, result.output
    if start is None:
        assert "this terminal draws no images" in result.output and "\x1b_G" not in result.output
        return
    assert start in result.output
    if start.startswith("\x1b]1337"):  # the payload is the thumbnail itself
        payload = result.output.split(start, 1)[1].split(":", 1)[1].split("\x07", 1)[0]
        assert base64.b64decode(payload)[:3] == b"\xff\xd8\xff"  # a JPEG
    else:
        payload = result.output.split(start, 1)[1].split(";", 1)[1].split("\x1b\\", 1)[0]
        assert base64.b64decode(payload + "==")[:8] == b"\x89PNG\r\n\x1a\n"


# -- devices, output folders, configuration: one line, exit 2 ---------------------------------------------

@pytest.mark.parametrize("command", ["caption", "scan", "watch"])
def test_misspelt_device_is_a_usage_error(command: str, tmp_path: Path, invoke) -> None:
    (tmp_path / "photos").mkdir()
    result = invoke(command, str(tmp_path / "photos"), "--device", "banana")
    assert result.exit_code == 2, result.output
    assert "unknown device 'banana'" in result.output
    _no_traceback(result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_device_setting_from_the_environment_is_checked(invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALTTEXT_DEVICE", "banana")
    result = invoke("status")
    assert result.exit_code == 2 and "unknown device 'banana'" in result.output


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.skipif(_cuda(), reason="CUDA is available here")
@pytest.mark.parametrize("command", ["caption", "scan", "watch"])
def test_cuda_without_cuda_is_one_line(command: str, tmp_path: Path, invoke,
                                       caplog: pytest.LogCaptureFixture) -> None:
    from PIL import Image

    (tmp_path / "photos").mkdir()
    Image.new("RGB", (32, 32), "red").save(tmp_path / "photos" / "a.png")  # new: the model is needed
    result = invoke(command, str(tmp_path / "photos"), "--model", str(FIXTURE_MODEL), "--device", "cuda")
    assert result.exit_code == 2, result.output
    logged = [record.getMessage() for record in caplog.records]  # watch says it in its log, as a daemon does
    lines = [line for line in [*result.output.splitlines(), *logged] if "CUDA" in line]
    assert len(lines) == 1 and "CUDA is not available" in lines[0], result.output
    _no_traceback(result.output)


def test_export_into_a_missing_folder_is_one_line(tmp_path: Path, invoke) -> None:
    result = invoke("export", "-o", str(tmp_path / "missing" / "dir" / "x.csv"))
    assert result.exit_code == 2, result.output
    assert "missing/dir does not exist" in result.output
    _no_traceback(result.output)
    assert not (tmp_path / "missing").exists()  # no folders made from a typo


def test_missing_config_file_is_one_line(tmp_path: Path, invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALTTEXT_CONFIG", str(tmp_path / "nope.toml"))
    result = invoke("status")
    assert result.exit_code == 2
    assert result.output.strip() == f"alttext: error: config file {tmp_path / 'nope.toml'} (from ALTTEXT_CONFIG)" \
                                    " does not exist"


# -- global options after the subcommand -------------------------------------------------------------------

def _commands() -> list[list[str]]:
    names = [[name] for name in sorted(COMMANDS)]
    return [*names, ["model", "fetch"]]


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_every_command_takes_the_global_options_after_it(command: list[str], invoke) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "-v, --verbose" in result.output and "--db PATH" in result.output


def test_verbose_and_db_after_the_subcommand_work(index: Index, tmp_path: Path, invoke) -> None:
    plant(index, tmp_path / "lib", {"a.png": "a red kite"})
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.WARNING)
        result = invoke("status", "-v")
        assert result.exit_code == 0, result.output
        assert root.level == logging.INFO
    finally:
        root.setLevel(level)
    other = tmp_path / "other.sqlite3"
    # The later --db wins, like any option: status looks there (and, reading only, creates nothing).
    elsewhere = invoke("status", "--json", "--db", str(other))
    assert elsewhere.exit_code == 2 and f"no index at {other}" in elsewhere.output and not other.exists()
    scanned = invoke("search", "kite", "-v")
    assert scanned.exit_code == 0 and "a.png" in scanned.output


# -- Ctrl-C: exit 130 and what was kept, in every command that can take time ---------------------------------

RUNNER = textwrap.dedent('''
    """alttext with a slow fake model, slow metadata writes and a slow export: Ctrl-C lands mid-work."""
    import sys
    import time

    import numpy as np

    import alttext.library.core as core
    import alttext.metadata as metadata
    import alttext.web.export as export
    from alttext.captioning.engine import Captioner
    from alttext.captioning.loading import LoadedModel
    from alttext.variants import VariantClient


    def ready():
        print("READY", file=sys.stderr, flush=True)


    class SlowCaptioner(Captioner):
        def __init__(self):
            self.loaded = LoadedModel(None, None, None, "slow-test-model", None, "cpu")
            self.batch_size, self.quantize, self.generation_kwargs, self.calls = 1, "none", {}, 0

        def preprocess(self, image):
            return np.zeros((1, 1, 3), dtype=np.float32)

        def describe(self, pixels):
            return None  # a pixels-only model: alt text only

        def read_text(self, pixels):
            return None

        def generate(self, pixels):
            ready()
            time.sleep(0.4)
            return ["a red square on a white background"] * len(pixels)


    real_embed, real_render = metadata.embed, export.render


    def slow_embed(*args, **kwargs):
        ready()
        time.sleep(0.4)
        return real_embed(*args, **kwargs)


    def slow_render(fmt, rows):
        for chunk in real_render(fmt, rows):
            ready()
            time.sleep(0.4)
            yield chunk


    def slow_complete(self, messages, **kwargs):  # the chat model: never reached, it takes its time
        ready()
        time.sleep(30)
        raise RuntimeError("the test sends SIGINT long before this")


    core.Library.load_captioner = lambda self: SlowCaptioner()
    metadata.embed, export.render = slow_embed, slow_render
    VariantClient.complete = slow_complete
    from alttext.cli import main

    main()
''')


def _interrupt(runner: Path, args: list[str], cwd: Path) -> tuple[int, str]:
    """Run alttext ARGS, send SIGINT once it is at work, and return its exit status and stderr."""
    path = os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path,
           "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}  # variants: never contacted
    process = subprocess.Popen([sys.executable, str(runner), *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    lines = []
    for line in process.stderr:  # the fake's marker: it has started the slow part
        lines.append(line)
        if line.strip() == "READY":
            break
    process.send_signal(signal.SIGINT)
    try:
        rest = process.communicate(timeout=30)[1]
    finally:
        process.kill()
    return process.returncode, "".join(lines) + rest


@pytest.mark.both_backends
@pytest.mark.parametrize(("command", "kept"), [
    (["caption", "photos"], "caption writes nothing to the index or the files"),
    (["scan", "photos"], "captions so far are saved"),
    (["embed"], "file(s) already done are kept"),
    (["export", "-o", "out.csv"], "out.csv was left as it was"),
    (["export", "--format", "jsonl"], "the output above is incomplete"),
    (["variants", "indexed"], "variants so far are saved"),
], ids=["caption", "scan", "embed", "export-file", "export-stdout", "variants"])
def test_ctrl_c_is_exit_130_with_what_was_kept(command: list[str], kept: str, index: Index, tmp_path: Path,
                                               db: Path | str) -> None:
    plant(index, tmp_path / "indexed", {f"{i}.png": f"photo number {i}" for i in range(12)})  # to embed, export
    for i in range(12):  # to caption
        write_image(tmp_path / "photos" / f"{i}.png", 100 + i)
    runner = tmp_path / "slow_alttext.py"
    runner.write_text(RUNNER)
    code, stderr = _interrupt(runner, ["--db", str(db), *command], tmp_path)
    assert code == 130, stderr
    assert "interrupted: " in stderr and kept in stderr, stderr
    _no_traceback(stderr)
    if command[0] == "export" and "-o" in command:
        assert not (tmp_path / "out.csv").exists()


# -- a file that stays corrupt stays failed ---------------------------------------------------------------

@pytest.mark.both_backends
def test_a_file_that_stays_corrupt_is_still_failed_when_held_back(index: Index, tmp_path: Path, invoke,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from planted import PlantedCaptioner

    import alttext.library.core as core

    plant(index, tmp_path / "lib", {"good.png": "a red kite"})
    (tmp_path / "lib" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    monkeypatch.setattr(core.Library, "load_captioner", lambda self: PlantedCaptioner({}))
    for _ in range(MAX_ATTEMPTS):
        result = invoke("scan", str(tmp_path / "lib"))
        assert result.exit_code == 1 and "failed 1 (" in result.output, result.output
    held = invoke("scan", str(tmp_path / "lib"))
    assert "failed 1 (1 held back after repeated failures)" in held.output, held.output
    assert held.exit_code == 1  # while a file stays failed, like the first three scans
    assert "1 failed" in invoke("status").output


@pytest.mark.both_backends
def test_ctrl_c_in_review_is_exit_130_and_end_of_input_a_quit(one_photo: Path, invoke,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert invoke("review", input="").exit_code == 0  # end of input: a quit

    def ctrl_c(*args: object, **kwargs: object) -> str:  # what click.prompt does on Ctrl-C
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise click.Abort() from None

    monkeypatch.setattr(click, "prompt", ctrl_c)
    result = invoke("review")
    assert result.exit_code == 130, result.output
    assert "interrupted: every answer given is saved" in result.output
    _no_traceback(result.output)
