"""A batch that doesn't fit the device's memory is split, not fatal (docs/architecture.md §13).

``run_fitting`` runs a batch; on an out-of-memory error it empties the device's cache and runs each half,
down to one image. One image that still doesn't fit gets its own failure; the rest of the batch stands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

R = TypeVar("R")
F = TypeVar("F")

# What allocators other than CUDA's say (MPS: "MPS backend out of memory"; CPU: "can't allocate memory").
_OOM_WORDS = ("out of memory", "can't allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device (or host) allocation failure, which a smaller batch may avoid."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(words in str(exc).lower() for words in _OOM_WORDS)


def release_cache(device: str) -> None:
    """Hand the failed call's cached blocks back, so the halves start from a clean allocator."""
    import gc

    import torch

    gc.collect()
    kind = device.partition(":")[0]
    if kind == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif kind == "mps" and torch.backends.mps.is_available():
        torch.mps.empty_cache()


def _first_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= 200 else text[:199] + "…"


def run_fitting(
    run: Callable[[Sequence[Any]], Sequence[R]],
    batch: Sequence[Any],
    *,
    limit: int | None,
    device: str,
    failed: Callable[[str], F],
) -> tuple[list[R | F], int | None]:
    """``run`` over ``batch`` in order, in chunks of at most ``limit`` (None: all at once), halving any chunk
    that runs out of memory; an image that doesn't fit alone gets ``failed(message)``. Returns the results
    (one per item, in order) and, when memory ran out, the largest chunk that then ran (None if none did or
    memory never ran out): the batch size that fits from then on."""
    step = limit or len(batch) or 1
    pending: list[Sequence[Any]] = [batch[start : start + step] for start in range(0, len(batch), step)]
    results: list[R | F] = []
    fitted: int | None = None
    split = False
    while pending:
        chunk = pending.pop(0)
        error: str | None = None
        try:
            out = run(chunk)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            error = _first_line(exc)
        if error is None:
            results.extend(out)
            if split:
                fitted = max(fitted or 0, len(chunk))
            continue
        # Out of the except block: the traceback, and the failed call's tensors with it, are gone.
        split = True
        release_cache(device)
        if len(chunk) == 1:
            logger.info("out of memory on %s with one image: that image gets no text (%s)", device, error)
            results.append(failed(f"the model ran out of memory on {device} for this image alone: {error}"))
            continue
        half = (len(chunk) + 1) // 2
        pending[:0] = [chunk[:half], chunk[half:]]
    return results, fitted
