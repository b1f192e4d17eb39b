"""The dtype a local model runs in (``--precision``, docs/architecture.md §13).

Half precision halves a model's memory and is what GPUs are fast at; a CPU is fastest, and exact, in fp32.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alttext.vocabulary import PRECISION_CHOICES

if TYPE_CHECKING:
    import torch

__all__ = ["PRECISION_CHOICES", "resolve_precision", "torch_dtype"]


def resolve_precision(precision: str, device: str) -> str:
    """``precision`` with ``auto`` made concrete for ``device`` (a resolved one: cpu, cuda, cuda:N or mps):
    bf16 on a CUDA device that supports it, else fp16 there; fp16 on MPS; fp32 on CPU. An explicit choice
    stands (bf16 also runs on CPU)."""
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"precision must be one of {', '.join(PRECISION_CHOICES)}, not {precision!r}")
    if precision != "auto":
        return precision
    kind = device.partition(":")[0]
    if kind == "cuda":
        import torch

        # Pre-Ampere GPUs have no bf16 units (emulated, slow): fp16 there.
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if kind == "mps":
        return "fp16"
    return "fp32"


def torch_dtype(precision: str) -> torch.dtype:
    """The torch dtype of a resolved precision name."""
    import torch

    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision not in dtypes:
        raise ValueError(f"not a resolved precision: {precision!r} (one of {', '.join(dtypes)})")
    return dtypes[precision]
