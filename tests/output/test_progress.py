"""Progress bars appear on a terminal (stderr a TTY, tried through a pseudo-terminal) and never in a pipe
or under systemd (JOURNAL_STREAM / INVOCATION_ID), where carriage returns would only be noise."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from alttext.index.db import Index
from alttext.index.scan import scan

sys.path.insert(0, str(Path(__file__).parents[1] / "web"))
from planted import PlantedCaptioner, colour, write_image

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = {"JOURNAL_STREAM": "8:12345", "INVOCATION_ID": "0123456789abcdef0123456789abcdef"}


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in SYSTEMD}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["COLUMNS"] = "100"
    return {**env, **(extra or {})}


def _run(args: list[str], *, terminal: bool, extra: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``python -m alttext ARGS``; stderr on a pseudo-terminal (``terminal``) or a pipe."""
    command = [sys.executable, "-m", "alttext", *args]
    if not terminal:
        done = subprocess.run(command, capture_output=True, text=True, env=_environment(extra), timeout=120)
        return done.returncode, done.stdout, done.stderr
    controller, device = pty.openpty()
    fcntl.ioctl(device, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a real terminal has a size
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=device, stdin=subprocess.DEVNULL,
                               env=_environment(extra))
    os.close(device)
    seen = bytearray()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    stdout = process.stdout.read().decode() if process.stdout else ""
    return process.wait(timeout=30), stdout, seen.decode(errors="replace")


@pytest.fixture
def planted(tmp_path: Path, index: Index) -> Path:
    folder = tmp_path / "photos"
    for i in range(3):
        write_image(folder / f"p{i}.png", i)
    captioner = PlantedCaptioner({colour(i): f"Shape number {i}." for i in range(3)})
    scan(index, [str(folder)], lambda: captioner, batch_size=8, max_pixels=10_000_000)
    return folder


def test_embed_shows_progress_on_a_terminal(planted: Path, db: Path) -> None:
    code, stdout, terminal = _run(["--db", str(db), "embed", "--dry-run"], terminal=True)
    assert code == 0, terminal
    assert "embed:" in terminal and "3/3" in terminal, terminal
    assert stdout.count("dry-run: ") == 3  # the results themselves stay on stdout


def test_embed_is_quiet_in_a_pipe(planted: Path, db: Path) -> None:
    code, stdout, stderr = _run(["--db", str(db), "embed", "--dry-run"], terminal=False)
    assert code == 0, stderr
    assert stderr == "" and stdout.count("dry-run: ") == 3


def test_embed_is_quiet_under_systemd_even_on_a_terminal(planted: Path, db: Path) -> None:
    for name, value in SYSTEMD.items():
        code, _, terminal = _run(["--db", str(db), "embed", "--dry-run"], terminal=True, extra={name: value})
        assert code == 0 and "3/3" not in terminal and "\r" not in terminal, (name, terminal)


def test_caption_shows_a_count_on_a_terminal_and_nothing_in_a_pipe(tmp_path: Path, shapes_model: Path) -> None:
    for i in range(2):
        write_image(tmp_path / "photos" / f"p{i}.png", i, size=32)
    args = ["caption", "--model", str(shapes_model), "--device", "cpu", str(tmp_path / "photos")]
    code, stdout, terminal = _run(args, terminal=True)
    assert code == 0, terminal
    assert "caption:" in terminal and "2image" in terminal.replace(" ", ""), terminal
    assert stdout.count("\t") == 2
    code, stdout, stderr = _run(args, terminal=False)
    assert code == 0 and "caption:" not in stderr and "\r" not in stderr, stderr


def test_progress_is_wanted_only_on_a_terminal_outside_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    from alttext.cli.progress import progress_wanted

    class Stream:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    for name in SYSTEMD:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "stderr", Stream(True))
    assert progress_wanted()
    monkeypatch.setenv("INVOCATION_ID", "abc")
    assert not progress_wanted()
    monkeypatch.delenv("INVOCATION_ID")
    monkeypatch.setattr(sys, "stderr", Stream(False))
    assert not progress_wanted()


class _Recorder:
    """A ``Progress`` that remembers each bar's label, total and advances."""

    def __init__(self) -> None:
        self.bars: dict[str, list[int | None]] = {}

    def __call__(self, label: str, total: int | None):  # -> Callable[[int], None]
        self.bars[label] = [total]
        return self.bars[label].append


def test_the_vectors_after_a_scan_report_progress(planted: Path, index: Index) -> None:
    from alttext.library.after_index import AfterIndexing
    from alttext.search.encoder import semantic_available

    if not semantic_available():
        pytest.skip("needs the `semantic` extra")
    recorder = _Recorder()
    report = AfterIndexing(index, roots=[str(planted)], progress=recorder).run()
    assert report.vectors == 3
    total, *advances = recorder.bars["vectors"]
    assert total == 3 and sum(advances) == 3


def test_variants_report_progress_per_job(planted: Path, index: Index) -> None:
    from alttext.library.variants_flow import ask_for_variants
    from alttext.variants.result import VariantResult

    class DownClient:
        model = "stub"
        requests_made = 0

        def generate_variants(self, caption: str, n: int = 3, style: str = "catchy") -> VariantResult:
            return VariantResult([], "stub", style, 1, error="the server is down", error_kind="connection")

    recorder = _Recorder()
    paths = [str(planted / f"p{i}.png") for i in range(3)]
    report = ask_for_variants(index, DownClient(), paths, n=3, style="catchy", force=False,  # type: ignore[arg-type]
                              progress=recorder)
    assert all(item.error for item in report.items)
    total, *advances = recorder.bars["variants"]
    assert total == 3 and sum(advances) == 3


def test_db_copy_counts_each_tables_rows_on_a_terminal_and_nothing_in_a_pipe(planted: Path, db: Path,
                                                                           tmp_path: Path) -> None:
    code, stdout, terminal = _run(["db", "copy", str(db), str(tmp_path / "copy.sqlite3")], terminal=True)
    assert code == 0, terminal
    assert "files:" in terminal and "3row" in terminal.replace(" ", ""), terminal  # 3 files, counted as copied
    assert "captions:" in terminal
    assert stdout.splitlines()[0].split()[0] == "roots"  # the counts table stays on stdout
    code, stdout, stderr = _run(["db", "copy", str(db), str(tmp_path / "again.sqlite3")], terminal=False)
    assert code == 0 and stderr == "" and "files" in stdout, stderr
