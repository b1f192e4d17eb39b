"""Opt-in dynamic int8 quantisation for CPU inference.

``torch.ao.quantization.quantize_dynamic`` only converts ``nn.Linear``. GPT-2 (and other older decoders)
use ``transformers.pytorch_utils.Conv1D`` for the same maths with a transposed weight, so we turn those
into ``nn.Linear`` first; otherwise most of the decoder would stay fp32.
"""

from __future__ import annotations

import contextlib
import ctypes
import warnings

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D


def conv1d_to_linear(module: nn.Module) -> int:
    """Replace every GPT-2 style Conv1D below ``module`` by an equivalent nn.Linear; returns the count."""
    replaced = 0
    for name, child in list(module.named_children()):
        if isinstance(child, Conv1D):
            in_features, out_features = child.weight.shape
            linear = nn.Linear(in_features, out_features, bias=child.bias is not None)
            with torch.no_grad():
                linear.weight.copy_(child.weight.t())
                if child.bias is not None:
                    linear.bias.copy_(child.bias)
            setattr(module, name, linear)
            replaced += 1
        else:
            replaced += conv1d_to_linear(child)
    return replaced


def quantize_int8(model: nn.Module) -> nn.Module:
    """Dynamic int8 weights for every Linear layer (activations stay fp32); CPU only."""
    conv1d_to_linear(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao deprecation notices
        quantized = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    release_free_heap()
    return quantized


def release_free_heap() -> None:
    """Hand freed fp32 weights back to the OS; glibc otherwise keeps them in the heap (seen as RSS)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)
