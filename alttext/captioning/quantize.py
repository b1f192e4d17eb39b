"""Opt-in dynamic int8 quantisation for CPU inference.

``torch.ao.quantization.quantize_dynamic`` only converts ``nn.Linear``. GPT-2 (and other older decoders)
use ``transformers.pytorch_utils.Conv1D`` for the same maths with a transposed weight, so we turn those
into ``nn.Linear`` first; otherwise most of the decoder would stay fp32.

Memory: ``quantize_dynamic`` deep-copies the whole fp32 model unless told otherwise, and converting every
Conv1D before quantising anything holds a second fp32 copy of the decoder; with vit-gpt2 that peaked at
about 3 GB. Here each layer is converted and quantised in place, one at a time (the same int8 weights
``quantize_dynamic`` makes: ``default_dynamic_qconfig``, per-tensor symmetric), and the fp32 tensors that
remain (embeddings, norms) are copied out of the memory-mapped checkpoint so the mapping, and with it the
fp32 weights' pages, can be released.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import warnings
from typing import Any

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D


def _as_linear(conv: Conv1D) -> nn.Linear:
    in_features, out_features = conv.weight.shape
    linear = nn.Linear(in_features, out_features, bias=conv.bias is not None)
    with torch.no_grad():
        linear.weight.copy_(conv.weight.t())
        if conv.bias is not None:
            linear.bias.copy_(conv.bias)
    return linear


def conv1d_to_linear(module: nn.Module) -> int:
    """Replace every GPT-2 style Conv1D below ``module`` by an equivalent nn.Linear; returns the count."""
    replaced = 0
    for name, child in list(module.named_children()):
        if isinstance(child, Conv1D):
            setattr(module, name, _as_linear(child))
            replaced += 1
        else:
            replaced += conv1d_to_linear(child)
    return replaced


def _quantize_children(module: nn.Module, skip: nn.Module | None = None) -> int:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear
    from torch.ao.quantization import default_dynamic_qconfig

    converted = 0
    for name, child in list(module.named_children()):
        if child is skip:
            continue
        if isinstance(child, Conv1D):
            child = _as_linear(child)
        if type(child) is nn.Linear:  # exactly what quantize_dynamic's default mapping converts
            if child.bias is not None:  # the int8 layer keeps this tensor: not a view of the checkpoint
                child.bias.data = child.bias.data.clone()
            child.qconfig = default_dynamic_qconfig  # type: ignore[assignment]  # Module types attributes as Tensor | Module
            setattr(module, name, DynamicInt8Linear.from_float(child))
            converted += 1
        else:
            converted += _quantize_children(child, skip)
    return converted


def _own_remaining_tensors(model: nn.Module) -> None:
    """Copy the fp32 parameters/buffers left after quantisation into ordinary memory (tied ones once)."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.data = parameter.data.clone()
        for module in model.modules():
            for name, buffer in list(module.named_buffers(recurse=False)):
                if buffer is not None:
                    module._buffers[name] = buffer.clone()


def _cpu_has(*units: str) -> bool:
    """Torch reports any of ``units`` (``amx_int8``, ``avx512_bf16``...) on this CPU; False where this torch
    lacks the private probe."""
    try:
        capability = torch._C._cpu._get_cpu_capability()
    except (AttributeError, RuntimeError):
        return False
    return any(capability.get(unit) for unit in units)


def int8_engine() -> str:
    """The quantized engine whose int8 weights run fastest here: oneDNN on CPUs with AMX int8 units (its
    int8 matrix products use them; bench/README.md: ~3× fbgemm's for the encoder and the LM head), else
    torch's default (fbgemm on x86: what was measured on AVX2 machines)."""
    if _cpu_has("amx_int8") and "onednn" in torch.backends.quantized.supported_engines:
        return "onednn"
    return str(torch.backends.quantized.engine)


def native_bf16() -> bool:
    """The CPU multiplies bf16 natively (AMX or AVX-512 BF16): there int8 models keep their attention state in
    bf16 (``gpt2_beam``) and a vision encoder-decoder's image encoder runs in bf16 (``bf16_image_encoder``)."""
    return _cpu_has("amx_bf16", "avx512_bf16")


def is_int8(module: nn.Module) -> bool:
    """``module`` holds layers made by ``quantize_int8``."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    return any(isinstance(child, DynamicInt8Linear) for child in module.modules())


def bf16_image_encoder(model: nn.Module) -> nn.Module | None:
    """The image encoder that ``quantize_int8`` runs in bf16 instead of int8: a VisionEncoderDecoder's (vit-gpt2,
    TrOCR, Donut) on a CPU with bf16 units. There, measured on vit-gpt2's ViT at batch 32, bf16 took 35 ms an
    image against int8's 70-90 and came closer to fp32 (relative error of the encoder's output 1.1 % against
    4.7 %): int8 re-quantises every layer's fp32 input, bf16 halves every activation's bytes and runs the
    attention in bf16 too. None elsewhere."""
    from transformers import VisionEncoderDecoderModel

    if isinstance(model, VisionEncoderDecoderModel) and native_bf16():
        return model.encoder
    return None


def _states_in_fp32(_module: nn.Module, _inputs: Any, output: Any) -> Any:
    """A bf16 image encoder's output states in fp32, as the int8 decoder layers take them (any caller:
    ``generate``, a forward, ``fast_beam``)."""
    if isinstance(output, tuple):
        return (output[0].float(), *output[1:])
    output.last_hidden_state = output.last_hidden_state.float()
    return output


def quantize_int8(model: nn.Module) -> nn.Module:
    """Dynamic int8 weights for every Linear (and Conv1D) layer, in place (activations stay fp32); CPU only.
    A vision encoder-decoder's image encoder is made bf16 instead where ``bf16_image_encoder`` says so (callers
    feed it pixels in its dtype, as ``fast_beam.generate_shared`` and ViT's own embedding do; its output states
    come back in fp32).

    The weights are packed for ``int8_engine()``, which becomes torch's quantized engine (process-wide; a
    layer packed earlier for another engine keeps running on that one)."""
    torch.backends.quantized.engine = int8_engine()
    encoder = bf16_image_encoder(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao deprecation notices
        _quantize_children(model, skip=encoder)
    if encoder is not None:
        encoder.to(torch.bfloat16)
        encoder.register_forward_hook(_states_in_fp32)
    _own_remaining_tensors(model)
    gc.collect()
    release_free_heap()
    return model


def release_free_heap() -> None:
    """Hand freed fp32 weights back to the OS; glibc otherwise keeps them in the heap (seen as RSS)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)
