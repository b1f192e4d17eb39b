"""fp32 linear layers with oneDNN's prepacked weights, for the small-batch matrix products of decoding.

A decoding step of vit-gpt2 multiplies (images × beams) rows, 32 at the default batch, by every decoder
weight and by the 768 × 50257 LM head. For the widening layers the time goes into reading the weights, and
oneDNN's blocked weight layout (``torch.ops.mkldnn._reorder_linear_weight``, done once) reads them faster
than ``addmm``: bench/decode_kernels_bench.py, single thread, 32 rows: the LM head 1.36× (1.74× at 8 rows),
the MLP's 768 → 3072 1.18×. The square and narrowing layers (768 → 768, 3072 → 768) ran 0.69× and 0.88×
and 768 → 2304 the same, so only layers at least ``WIDENING`` times wider out than in are packed. The
image encoder (1,500+ rows per batch, ~0.9×) is left alone.

The sums are the same but the order of the additions is not, so outputs can differ from ``addmm``'s in the
last bits (about 1e-6 here); bench/caption_equivalence.py checks the captions stay the naive pipeline's.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D


class PackedLinear(nn.Module):
    """``y = x Wᵀ + b`` with ``W`` held in oneDNN's layout (fp32, CPU)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        """``weight``: (out_features, in_features), as ``nn.Linear`` holds it."""
        super().__init__()
        self.out_features, self.in_features = weight.shape
        with torch.no_grad():
            packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous())
        self.register_buffer("packed_weight", packed, persistent=False)
        self.register_buffer("bias", None if bias is None else bias.detach().clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)
        out = torch.ops.mkldnn._linear_pointwise(rows, self.packed_weight, self.bias, "none", [], "")
        return out.view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def available() -> bool:
    """oneDNN is in this torch build and its prepacked linear works here."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        with torch.no_grad():
            PackedLinear(torch.ones(2, 2), None)(torch.ones(1, 2))
    except (RuntimeError, AttributeError):  # op missing or unsupported on this CPU
        return False
    return True


WIDENING = 4  # out_features / in_features from which packing paid (the MLP's first layer, the LM head)


def _packed(module: nn.Module) -> PackedLinear | None:
    if isinstance(module, Conv1D):  # GPT-2's Conv1D holds the weight transposed: (in, out)
        weight = module.weight.t()
    elif type(module) is nn.Linear:
        weight = module.weight
    else:
        return None
    out_features, in_features = weight.shape
    return PackedLinear(weight, module.bias) if out_features >= WIDENING * in_features else None


def pack_linears(module: nn.Module) -> int:
    """Replace the fp32 CPU ``nn.Linear``/``Conv1D`` layers below ``module`` that widen at least ``WIDENING``
    times by ``PackedLinear``s; returns how many.

    A tied layer (GPT-2's LM head shares the token embeddings) gets its own packed copy; the embedding
    keeps the original."""
    replaced = 0
    for name, child in list(module.named_children()):
        weight = getattr(child, "weight", None)
        packed = (_packed(child) if isinstance(weight, torch.Tensor) and weight.dtype == torch.float32
                  and weight.device.type == "cpu" else None)
        if packed is not None:
            setattr(module, name, packed)
            replaced += 1
        else:
            replaced += pack_linears(child)
    return replaced
