"""scripts/choose_torch.py: which PyTorch build set-up installs (issue 14), on machines simulated here."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "choose_torch.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("choose_torch", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["choose_torch"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


choose_torch = load()
CPU = ["install", "torch==2.13.0", "--index-url", "https://download.pytorch.org/whl/cpu"]
DEFAULT = ["install", "torch==2.13.0"]


@pytest.mark.parametrize(("installed", "gpu", "reachable", "override", "args", "said"), [
    (None, False, True, "", CPU, "CPU build"),  # the usual machine: no GPU, PyTorch's index reachable
    (None, False, False, "", DEFAULT, "warning"),  # its index unreachable (as here): the pin, with a warning
    (None, True, True, "", DEFAULT, "NVIDIA GPU"),  # a GPU: the CUDA build
    (None, True, True, "cpu", CPU, "ALTTEXT_TORCH=cpu"),
    (None, False, True, "cuda", DEFAULT, "ALTTEXT_TORCH=cuda"),
    ("2.9.1+cu128", False, True, "", [], "keeping"),  # the user's own torch stays
    ("2.13.0+cpu", True, False, "cpu", [], "keeping"),
])
def test_the_build_chosen(installed: str | None, gpu: bool, reachable: bool, override: str, args: list[str],
                          said: str) -> None:
    plan = choose_torch.choose(installed=installed, nvidia_gpu=gpu, cpu_index_reachable=reachable, override=override)
    assert plan.pip_args == args
    assert said in plan.note


def test_a_wrong_override_is_refused() -> None:
    with pytest.raises(ValueError, match="cpu or cuda"):
        choose_torch.choose(installed=None, nvidia_gpu=False, cpu_index_reachable=True, override="rocm")


def test_an_unreachable_index_is_found_quickly() -> None:
    with socket.socket() as closed:  # a port nobody listens on: refused at once, no retries
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert not choose_torch.reachable(f"http://127.0.0.1:{port}/whl/cpu", timeout=2)


def test_gpu_present_and_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_driver = tmp_path / "no-driver"
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    monkeypatch.setenv("PATH", str(fake_bin))
    assert not choose_torch.has_nvidia_gpu(no_driver)  # no driver, no nvidia-smi
    smi = fake_bin / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-0)'\n")
    smi.chmod(0o755)
    assert choose_torch.has_nvidia_gpu(no_driver)
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed: no driver' >&2; exit 9\n")
    assert not choose_torch.has_nvidia_gpu(no_driver)  # the tool without a working driver
    driver = tmp_path / "version"
    driver.write_text("NVRM version: 570\n")
    assert choose_torch.has_nvidia_gpu(driver)


def test_main_without_torch_or_gpu_and_the_index_unreachable(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[list[str]] = []

    def run(args: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, "2.13.0+cpu \n", "")

    monkeypatch.setattr(choose_torch, "installed_torch", lambda: None)
    monkeypatch.setattr(choose_torch, "has_nvidia_gpu", lambda: False)
    monkeypatch.setattr(choose_torch, "reachable", lambda url: False)
    monkeypatch.setattr(choose_torch.subprocess, "run", run)
    monkeypatch.delenv("ALTTEXT_TORCH", raising=False)
    assert choose_torch.main() == 0
    assert calls[0] == [sys.executable, "-m", "pip", "-q", *DEFAULT]
    out, err = capsys.readouterr()
    assert "can't be reached" in err
    assert "PyTorch: torch 2.13.0+cpu (CPU)" in out  # which build it installed


def test_the_real_script_keeps_this_environments_torch() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "keeping the installed torch 2.13.0" in done.stdout and "(CPU)" in done.stdout
