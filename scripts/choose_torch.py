"""Install the right PyTorch into the virtual environment this runs in (called by scripts/setup.sh).

- A torch that is already installed is kept (a user who installed a CUDA or ROCm build first keeps it).
- Without an NVIDIA GPU: the CPU build from PyTorch's CPU wheel index, as PyTorch documents it
  (https://pytorch.org/get-started/locally/). The public package index alone would pick the CUDA build
  and some 19 nvidia/cuda/triton packages (gigabytes) for the same version pin.
- With an NVIDIA GPU: the default build (CUDA) from the package index.
- Where PyTorch's index can't be reached (a mirror, an offline machine with local wheels), the same pin
  from the configured package index, with a warning; the build that was installed is said either way.

``ALTTEXT_TORCH=cpu|cuda`` chooses the build when none is installed. Run: ``.venv/bin/python scripts/choose_torch.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

TORCH_PIN = "torch==2.13.0"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Plan:
    pip_args: list[str]  # empty: install nothing
    note: str  # what is done and why, one line


def choose(*, installed: str | None, nvidia_gpu: bool, cpu_index_reachable: bool, override: str = "") -> Plan:
    """What to install, from what is known about the machine (pure: tests call it with every case)."""
    override = override.strip().lower()
    if override not in ("", "cpu", "cuda"):
        raise ValueError(f"ALTTEXT_TORCH must be cpu or cuda, not {override!r}")
    if installed:
        return Plan([], f"keeping the installed torch {installed}")
    if override == "cuda":
        return Plan(["install", TORCH_PIN], "ALTTEXT_TORCH=cuda: installing the default (CUDA) build")
    if nvidia_gpu and override != "cpu":
        return Plan(["install", TORCH_PIN], "an NVIDIA GPU is present: installing the default (CUDA) build")
    if cpu_index_reachable:
        return Plan(["install", TORCH_PIN, "--index-url", CPU_INDEX],
                    f"installing the CPU build from {CPU_INDEX}"
                    + (" (ALTTEXT_TORCH=cpu)" if override else " (no NVIDIA GPU here)"))
    return Plan(["install", TORCH_PIN],
                f"warning: {CPU_INDEX} can't be reached; installing {TORCH_PIN} from the configured package index"
                " (a CPU build where local wheels provide one; from the public index alone, the CUDA build)")


def installed_torch() -> str | None:
    """``2.13.0+cpu`` for the torch in this environment, without importing it (seconds), or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return None


def has_nvidia_gpu(driver: Path = Path("/proc/driver/nvidia/version")) -> bool:
    """An NVIDIA driver is loaded (its /proc entry) or ``nvidia-smi`` lists a GPU."""
    if driver.exists():
        return True
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listed.returncode == 0 and "GPU" in listed.stdout


def reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """One quick request: pip itself would retry an unreachable index for minutes."""
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{url}/torch/", method="HEAD"), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def build_of(python: str) -> str:
    """``torch 2.13.0+cpu (CPU)`` or ``... (CUDA 12.8)``, asked of the installed torch."""
    probe = "import torch; print(torch.__version__, torch.version.cuda or '')"
    found = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    if found.returncode != 0:
        return "torch does not import: " + (found.stderr.strip().splitlines() or ["?"])[-1]
    version, _, cuda = found.stdout.strip().partition(" ")
    return f"torch {version} ({f'CUDA {cuda}' if cuda else 'CPU'})"


def main() -> int:
    override = os.environ.get("ALTTEXT_TORCH", "")
    installed = installed_torch()
    gpu = False if installed else has_nvidia_gpu()
    probe_index = not installed and override.strip().lower() != "cuda" and (not gpu or override.strip() == "cpu")
    try:
        plan = choose(installed=installed, nvidia_gpu=gpu, override=override,
                      cpu_index_reachable=reachable(CPU_INDEX) if probe_index else False)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"PyTorch: {plan.note}", file=sys.stderr if plan.note.startswith("warning") else sys.stdout)
    if plan.pip_args:
        done = subprocess.run([sys.executable, "-m", "pip", "-q", *plan.pip_args], check=False)
        if done.returncode != 0:
            return done.returncode
    print(f"PyTorch: {build_of(sys.executable)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
